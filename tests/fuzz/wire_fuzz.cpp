// libFuzzer target: the peer wire codec (peer/wire/), read as a PeerSession reads a connection —
// an optional 68-byte handshake, then messages parsed from the front until one is incomplete or
// refused; the payload of every extended message also goes through parse_extended_handshake.
// Checks: a parsed message re-encodes (encode_message) to exactly the bytes it consumed, and one
// byte fewer is "incomplete", not a message or an error; a handshake is "incomplete" on every
// shorter prefix and re-parses to itself after encoding; an extended handshake re-parses to
// itself after encoding, byte for byte when it carried its own "m". Any mismatch aborts.
#include "peer/wire/wire.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace gs;
using namespace gs::peer::wire;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "wire_fuzz: %s\n", what);
    std::abort();
}

// The bytes consumed by the handshake, or 0 when the input does not start with one.
std::size_t check_handshake(std::string_view in) {
    auto h = parse_handshake(in);
    if (!h || !*h) return 0;  // not a handshake, or too short: read the input as messages
    for (std::size_t k = 0; k < kHandshakeBytes; ++k) {
        auto part = parse_handshake(in.substr(0, k));
        if (!part) fail("a prefix of a valid handshake was refused");
        if (*part) fail("a prefix of a handshake parsed as a whole one");
    }
    std::string out;
    encode_handshake(out, **h);
    if (out.size() != kHandshakeBytes) fail("encode_handshake did not give 68 bytes");
    auto again = parse_handshake(out);
    if (!again || !*again || !(**again == **h)) fail("handshake did not survive encode/parse");
    return kHandshakeBytes;
}

void check_extended_handshake(std::string_view body) {
    auto h = parse_extended_handshake(body);
    if (!h) return;
    const std::string encoded = encode_extended_handshake_body(*h);
    auto again = parse_extended_handshake(encoded);
    if (!again || !(*again == *h)) fail("extended handshake did not survive encode/parse");
    auto original = proto::decode(body);
    if (!original) fail("parse_extended_handshake accepted what decode refuses");
    if (original->find("m") != nullptr && encoded != body) {
        fail("extended handshake with \"m\" did not re-encode to its bytes");
    }
}

void check_limits(const Message& m) {
    if (m.keep_alive) return;
    switch (m.id) {
        case MsgId::Bitfield:
            if (m.payload.size() > kMaxBitfieldBytes) fail("bitfield over the cap");
            break;
        case MsgId::Piece:
            if (m.payload.empty() || m.payload.size() > kMaxBlockBytes) fail("bad block size");
            break;
        case MsgId::Extended:
            if (m.payload.size() > kMaxExtendedBytes) fail("extended message over the cap");
            break;
        default:
            if (!m.payload.empty()) fail("payload on a message that carries none");
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string_view in = input.substr(check_handshake(input));

    while (true) {
        std::size_t consumed = 0;
        auto parsed = parse_message(in, consumed);
        if (!parsed) break;  // refused: the session closes the connection
        if (!*parsed) {
            if (consumed != 0) fail("consumed set without a message");
            break;  // waits for more bytes
        }
        const Message& m = **parsed;
        if (consumed < kLengthPrefixBytes || consumed > in.size()) fail("bad consumed length");
        check_limits(m);

        std::string out;
        encode_message(out, m);
        if (out != in.substr(0, consumed)) fail("encode_message differs from the bytes parsed");

        std::size_t shorter_consumed = 0;
        auto shorter = parse_message(in.substr(0, consumed - 1), shorter_consumed);
        if (!shorter) fail("one byte short of a valid message was refused");
        if (*shorter) fail("one byte short of a message parsed as a message");

        if (!m.keep_alive && m.id == MsgId::Extended) check_extended_handshake(m.payload);
        in.remove_prefix(consumed);
    }
    return 0;
}
