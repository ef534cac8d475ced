#include "peer/wire/handshake.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gs::peer::wire {

namespace {

constexpr std::string_view kPeerIdPrefix = "-GS0100-";
constexpr std::size_t kInfoHashOffset = 1 + kProtocol.size() + kReservedBytes;  // 28
constexpr std::size_t kPeerIdOffset = kInfoHashOffset + kInfoHashBytes;         // 48

Error not_a_handshake() {
    return make_error(Errc::Protocol, "not a BitTorrent handshake");
}

}  // namespace

void encode_handshake(std::string& out, const Handshake& handshake) {
    out.push_back(static_cast<char>(kProtocol.size()));
    out.append(kProtocol);
    char reserved[kReservedBytes] = {};
    if (handshake.supports_extensions) reserved[kExtensionByte] = static_cast<char>(kExtensionBit);
    out.append(reserved, sizeof reserved);
    out.append(reinterpret_cast<const char*>(handshake.info_hash.data()), kInfoHashBytes);
    out.append(reinterpret_cast<const char*>(handshake.peer_id.data()), kPeerIdBytes);
}

Result<std::optional<Handshake>> parse_handshake(std::string_view in) {
    if (in.empty()) return std::optional<Handshake>();
    if (static_cast<unsigned char>(in[0]) != kProtocol.size()) return not_a_handshake();
    // Check whatever part of the protocol string has arrived.
    std::string_view pstr = in.substr(1, kProtocol.size());
    if (pstr != kProtocol.substr(0, pstr.size())) return not_a_handshake();
    if (in.size() < kHandshakeBytes) return std::optional<Handshake>();
    Handshake h;
    h.supports_extensions = (static_cast<unsigned char>(in[1 + kProtocol.size() + kExtensionByte]) &
                             kExtensionBit) != 0;
    std::memcpy(h.info_hash.data(), in.data() + kInfoHashOffset, kInfoHashBytes);
    std::memcpy(h.peer_id.data(), in.data() + kPeerIdOffset, kPeerIdBytes);
    return std::optional<Handshake>(h);
}

PeerIdBytes random_peer_id() {
    PeerIdBytes id{};
    std::copy(kPeerIdPrefix.begin(), kPeerIdPrefix.end(), id.begin());
    if (RAND_bytes(id.data() + kPeerIdPrefix.size(),
                   static_cast<int>(id.size() - kPeerIdPrefix.size())) != 1) {
        std::fputs("fatal: OpenSSL RAND_bytes failed\n", stderr);
        std::abort();
    }
    return id;
}

std::string peer_id_string(const PeerIdBytes& id) {
    return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

}  // namespace gs::peer::wire
