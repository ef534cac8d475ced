// The BEP 10 extended handshake: extended message id 0 carrying a bencoded dictionary. Ours is
// {"m": {}, "v": "groupshare 0.1", "p": <listen port>} plus any extra fields a caller adds
// (e.g. a ticket). Pure; reactor thread.
#pragma once

#include "shared/proto/bencode.hpp"
#include "shared/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace gs::peer::wire {

inline constexpr std::string_view kClientVersion = "groupshare 0.1";  // BEP 10 "v"

struct ExtendedHandshake {
    std::map<std::string, std::uint8_t, std::less<>> m;  // BEP 10 "m": extension -> message id
    std::optional<std::string> client;                   // BEP 10 "v"
    std::optional<std::uint16_t> port;                   // BEP 10 "p": the sender's listen port
    proto::Dict extra;  // every other key, kept as sent ("m", "v", "p" never appear here)

    bool operator==(const ExtendedHandshake&) const = default;
};

// Ours: no extension messages yet, our version string, and our listen port.
ExtendedHandshake our_extended_handshake(std::uint16_t listen_port);

// The bencoded dictionary (the payload after the extended id byte).
std::string encode_extended_handshake_body(const ExtendedHandshake& handshake);
// The whole message: prefix, id 20, extended id 0, dictionary.
void encode_extended_handshake(std::string& out, const ExtendedHandshake& handshake);

// Parses the payload of an extended message with id 0. A Protocol error for anything but a
// bounded canonical dictionary whose "m", "v" and "p" (when present) have BEP 10's types and
// ranges (ids 0-255, port 1-65535).
Result<ExtendedHandshake> parse_extended_handshake(std::string_view body);

}  // namespace gs::peer::wire
