#include "peer/wire/handshake.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gs::peer::wire {
namespace {

Handshake sample(bool extensions = true) {
    Handshake h;
    h.info_hash = sha1("some info dict");
    for (std::size_t i = 0; i < h.peer_id.size(); ++i) h.peer_id[i] = static_cast<std::uint8_t>(i);
    h.supports_extensions = extensions;
    return h;
}

std::string encoded(const Handshake& h) {
    std::string out;
    encode_handshake(out, h);
    return out;
}

TEST(Handshake, EncodesTheBep3LayoutWithTheBep10Bit) {
    Handshake h = sample();
    std::string out = encoded(h);
    ASSERT_EQ(out.size(), kHandshakeBytes);
    EXPECT_EQ(out[0], 19);
    EXPECT_EQ(out.substr(1, 19), "BitTorrent protocol");
    EXPECT_EQ(out.substr(20, 8), std::string("\0\0\0\0\0\x10\0\0", 8));
    EXPECT_EQ(out.substr(28, 20), digest_bytes(h.info_hash));
    EXPECT_EQ(out.substr(48, 20), peer_id_string(h.peer_id));
    EXPECT_EQ(encoded(sample(false)).substr(20, 8), std::string(8, '\0'));
}

TEST(Handshake, RoundTripsWithAndWithoutExtensions) {
    for (bool ext : {true, false}) {
        auto parsed = parse_handshake(encoded(sample(ext)));
        ASSERT_TRUE(parsed.ok());
        ASSERT_TRUE(parsed->has_value());
        EXPECT_EQ(**parsed, sample(ext));
    }
}

TEST(Handshake, WaitsForMoreBytesAtEverySplitPoint) {
    std::string full = encoded(sample());
    for (std::size_t n = 0; n < full.size(); ++n) {
        auto parsed = parse_handshake(full.substr(0, n));
        ASSERT_TRUE(parsed.ok()) << n;
        EXPECT_FALSE(parsed->has_value()) << n;
    }
}

TEST(Handshake, IgnoresBytesAfterTheHandshake) {
    std::string in = encoded(sample()) + "\0\0\0\0";
    auto parsed = parse_handshake(in);
    ASSERT_TRUE(parsed.ok() && parsed->has_value());
    EXPECT_EQ(**parsed, sample());
}

TEST(Handshake, RejectsAStrangerFromTheFirstWrongByte) {
    auto http = parse_handshake("G");
    ASSERT_FALSE(http.ok());
    EXPECT_EQ(http.error().code, Errc::Protocol);
    std::string wrong = encoded(sample());
    wrong[5] = 'X';
    EXPECT_FALSE(parse_handshake(wrong.substr(0, 6)).ok());
    EXPECT_FALSE(parse_handshake(wrong).ok());
    EXPECT_TRUE(parse_handshake(wrong.substr(0, 5)).ok());  // not known to be wrong yet
}

TEST(Handshake, MakesRandomPeerIdsWithOurPrefix) {
    PeerIdBytes a = random_peer_id();
    PeerIdBytes b = random_peer_id();
    EXPECT_EQ(peer_id_string(a).substr(0, 8), "-GS0100-");
    EXPECT_NE(a, b);
}

}  // namespace
}  // namespace gs::peer::wire
