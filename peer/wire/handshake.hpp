// The BEP 3 handshake: <19>"BitTorrent protocol"<8 reserved bytes><info hash><peer id>, 68 bytes,
// with the BEP 10 extension bit in the reserved bytes. Pure; used by PeerSession and
// UploadSession on the reactor thread.
#pragma once

#include "peer/wire/wire_constants.hpp"
#include "shared/result.hpp"
#include "shared/sha1.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gs::peer::wire {

using PeerIdBytes = std::array<std::uint8_t, kPeerIdBytes>;

struct Handshake {
    Sha1Digest info_hash{};
    PeerIdBytes peer_id{};
    bool supports_extensions = true;  // BEP 10 bit
    bool operator==(const Handshake&) const = default;
};

// Appends the 68 handshake bytes to `out`; the reserved bytes are zero except the BEP 10 bit.
void encode_handshake(std::string& out, const Handshake& handshake);

// Parses a handshake from the front of `in` (exactly kHandshakeBytes are consumed on success).
// nullopt while fewer bytes are there; a Protocol error as soon as the bytes present cannot be a
// BitTorrent handshake, so a stranger is dropped without waiting for 68 bytes.
Result<std::optional<Handshake>> parse_handshake(std::string_view in);

// A fresh peer id: "-GS0100-" (Azureus style: client GS, version 0.1.0.0) + 12 random bytes.
PeerIdBytes random_peer_id();

std::string peer_id_string(const PeerIdBytes& id);  // the 20 raw bytes as a string

}  // namespace gs::peer::wire
