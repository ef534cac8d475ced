// Raw BEP 3 peer-wire pieces for the e2e tests (peer_wire.hpp).
#include "tests/e2e/peer_wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace gs::e2e {

std::string bep3_protocol() {
    return std::string(1, 19) + "BitTorrent protocol";
}

std::string be32(std::uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
    return s;
}

std::uint32_t get32(std::string_view in, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
    return v;
}

std::string hex_to_bytes(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

std::uint16_t port_of(const std::string& address) {
    return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

std::string bep3_handshake(std::string_view info_hash, std::string_view peer_id, bool bep10) {
    std::string reserved(8, '\0');
    if (bep10) reserved[5] = 0x10;
    return bep3_protocol() + reserved + std::string(info_hash) + std::string(peer_id);
}

std::string message(char id, std::string_view payload) {
    return message_with_length(static_cast<std::uint32_t>(1 + payload.size()), id, payload);
}

std::string message_with_length(std::uint32_t length, char id, std::string_view payload) {
    return be32(length) + std::string(1, id) + std::string(payload);
}

std::string extended_ticket(std::string_view ticket) {
    // <extended id 0 = handshake><dictionary {"ticket": ticket}>
    const std::string dict =
        "d6:ticket" + std::to_string(ticket.size()) + ":" + std::string(ticket) + "e";
    return message(kExtended, std::string(1, '\0') + dict);
}

std::string interested() {
    return message(kInterested);
}

std::string request_first_block() {
    return message(kRequest, be32(0) + be32(0) + be32(16384));
}

std::size_t whole_messages(std::string_view in,
                           const std::function<void(std::string_view body)>& each) {
    std::size_t at = 0;
    while (in.size() - at >= 4 && in.size() - at - 4 >= get32(in, at)) {
        const std::uint32_t len = get32(in, at);
        each(in.substr(at + 4, len));
        at += 4 + len;
    }
    return at;
}

std::vector<char> message_ids(std::string_view in) {
    std::vector<char> ids;
    std::size_t at = in.size() >= kHandshakeBytes ? kHandshakeBytes : in.size();
    while (at + 5 <= in.size()) {
        const std::uint32_t len = get32(in, at);
        if (len > 0) ids.push_back(in[at + 4]);
        at += 4 + len;
    }
    return ids;
}

int connect_from(const std::string& source, std::uint16_t port, Connect mode) {
    const int flags = SOCK_CLOEXEC | (mode == Connect::Nonblocking ? SOCK_NONBLOCK : 0);
    int fd = ::socket(AF_INET, SOCK_STREAM | flags, 0);
    if (fd < 0) return -1;
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
         !(mode == Connect::Nonblocking && errno == EINPROGRESS))) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int listen_loopback(int flags, std::uint16_t& port, const std::string& who) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd, 16) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        throw std::runtime_error(who + ": " + why);
    }
    port = ntohs(addr.sin_port);
    return fd;
}

std::uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

StopSignal::StopSignal() : fd_(::eventfd(0, EFD_CLOEXEC)) {}

StopSignal::~StopSignal() {
    ::close(fd_);
}

void StopSignal::raise() {
    std::uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
}

}  // namespace gs::e2e
