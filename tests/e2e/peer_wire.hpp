// Raw BEP 3 peer-wire pieces for the e2e tests that play a peer themselves (a stranger, a leaver
// with an old ticket, a hostile or slow seeder). Written here with plain sockets and byte
// strings, independent of the product's peer code (peer/wire/), so that the tests check it
// rather than agree with it.
#pragma once

#include "tests/e2e/non_copyable.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gs::e2e {

// BEP 3 message ids (and BEP 10's extended message).
inline constexpr char kUnchoke = 1;
inline constexpr char kInterested = 2;
inline constexpr char kHave = 4;
inline constexpr char kBitfield = 5;
inline constexpr char kRequest = 6;
inline constexpr char kPieceId = 7;
inline constexpr char kExtended = 20;

// A BEP 3 handshake is 68 bytes: <19>"BitTorrent protocol"<8 reserved><info hash><peer id>.
inline constexpr std::size_t kHandshakeBytes = 68;
// The first 20 of them, the same in every handshake.
std::string bep3_protocol();
// The peer id the raw peers use unless a test wants its own.
inline constexpr std::string_view kRawPeerId = "-XX0001-abcdefghijkl";

// `v` as 4 bytes, big-endian; and back from `in` at `at`.
std::string be32(std::uint32_t v);
std::uint32_t get32(std::string_view in, std::size_t at);

// "0a1b..." (two hex digits a byte) as the bytes, e.g. a 40-digit info hash as its 20 bytes.
std::string hex_to_bytes(const std::string& hex);
// The port of "host:port".
std::uint16_t port_of(const std::string& address);

// A handshake for `info_hash` (20 bytes) from `peer_id` (20 bytes); with `bep10` the reserved
// bit that announces BEP 10 extended messages is set.
std::string bep3_handshake(std::string_view info_hash, std::string_view peer_id = kRawPeerId,
                           bool bep10 = true);
// <length><id><payload>, the length what it should be.
std::string message(char id, std::string_view payload = {});
// The same with the length given apart, so it can lie.
std::string message_with_length(std::uint32_t length, char id, std::string_view payload = {});
// A BEP 10 extended handshake carrying `ticket` (docs/protocol.md §2.3).
std::string extended_ticket(std::string_view ticket);
// interested, and a request for the first 16 KiB block of piece 0.
std::string interested();
std::string request_first_block();

// Calls `each(body)` for every whole message <length><body> at the front of `in` and returns
// the bytes they take; what follows is the start of a message still on its way.
std::size_t whole_messages(std::string_view in,
                           const std::function<void(std::string_view body)>& each);
// The ids of the messages in what a seeder sent (its handshake, then messages), each as soon
// as its id byte has arrived; keep-alives have none.
std::vector<char> message_ids(std::string_view in);

// A TCP connection from `source` (any 127.x.y.z works on Linux loopback) to 127.0.0.1:`port`;
// -1 on failure. Blocking: connected on return. Nonblocking: the connect may still be under way.
enum class Connect { Blocking, Nonblocking };
int connect_from(const std::string& source, std::uint16_t port, Connect mode = Connect::Blocking);
// A listening TCP socket on 127.0.0.1:0 (socket(2) `flags` such as SOCK_NONBLOCK added to
// SOCK_CLOEXEC); its port in `port`. Throws naming `who` when it cannot.
int listen_loopback(int flags, std::uint16_t& port, const std::string& who);
// The local port of a socket.
std::uint16_t local_port(int fd);

// An eventfd that tells a helper thread to stop: poll fd() for POLLIN; raise() sets it.
class StopSignal : NonCopyable {
public:
    StopSignal();
    ~StopSignal();

    int fd() const { return fd_; }
    void raise();

private:
    int fd_ = -1;
};

}  // namespace gs::e2e
