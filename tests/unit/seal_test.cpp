// The sealed peer channel: the XK handshake between two Channels, records both ways, and what
// happens to altered, replayed, oversized and misdirected bytes.
#include "peer/seal/channel.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace gs::peer::seal {
namespace {

struct Pair {
    KeyPair seeder_key = KeyPair::generate();
    KeyPair downloader_key = KeyPair::generate();
    Channel downloader;
    Channel seeder;
    net::Buffer to_seeder, to_downloader, seeder_plain, downloader_plain;

    explicit Pair(Cipher cipher)
        : downloader(Channel::initiator(downloader_key, seeder_key.public_key, cipher)),
          seeder(Channel::responder(seeder_key)) {}

    Status shake() {
        to_seeder.append(downloader.start());
        if (auto s = seeder.receive(to_seeder, seeder_plain, to_downloader); !s) return s;
        if (auto s = downloader.receive(to_downloader, downloader_plain, to_seeder); !s) return s;
        return seeder.receive(to_seeder, seeder_plain, to_downloader);
    }
};

class SealTest : public ::testing::TestWithParam<Cipher> {};

TEST_P(SealTest, BothSidesAgreeAndCarryBytesBothWays) {
    Pair p(GetParam());
    ASSERT_TRUE(p.shake());
    ASSERT_TRUE(p.downloader.established());
    ASSERT_TRUE(p.seeder.established());
    EXPECT_EQ(p.seeder.remote_static(), p.downloader_key.public_key);
    EXPECT_EQ(p.seeder.handshake_hash(), p.downloader.handshake_hash());

    const std::string big(700 * 1024, 'x');  // three records
    p.downloader.seal("hello", p.to_seeder);
    p.downloader.seal(big, p.to_seeder);
    EXPECT_EQ(p.to_seeder.view().find("hello"), std::string_view::npos);
    ASSERT_TRUE(p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader));
    EXPECT_EQ(p.seeder_plain.view(), "hello" + big);
    EXPECT_TRUE(p.to_seeder.empty());

    char* body = p.seeder.begin_record(p.to_downloader, 3);
    std::memcpy(body, "abc", 3);
    p.seeder.end_record(p.to_downloader, 3);
    ASSERT_TRUE(p.downloader.receive(p.to_downloader, p.downloader_plain, p.to_seeder));
    EXPECT_EQ(p.downloader_plain.view(), "abc");
}

TEST_P(SealTest, BytesSealedBeforeTheHandshakeGoOutWhenItIsDone) {
    Pair p(GetParam());
    p.downloader.seal("early", p.to_seeder);
    ASSERT_TRUE(p.shake());
    EXPECT_EQ(p.seeder_plain.view(), "early");
}

TEST_P(SealTest, AFlippedByteInARecordEndsTheChannel) {
    Pair p(GetParam());
    ASSERT_TRUE(p.shake());
    p.downloader.seal(std::string(1000, 'y'), p.to_seeder);
    const_cast<char*>(p.to_seeder.data())[500] ^= 1;
    auto s = p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("did not authenticate"), std::string::npos);
}

TEST_P(SealTest, ARecordPlayedAgainDoesNotAuthenticate) {
    Pair p(GetParam());
    ASSERT_TRUE(p.shake());
    p.downloader.seal("once", p.to_seeder);
    const std::string copy(p.to_seeder.view());
    ASSERT_TRUE(p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader));
    p.to_seeder.append(copy);
    EXPECT_FALSE(p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader));
}

TEST_P(SealTest, ARecordedHandshakeReplayedToTheSeederIsRefusedAtMessageThree) {
    Pair p(GetParam());
    const std::string m1 = p.downloader.start();
    p.to_seeder.append(m1);
    ASSERT_TRUE(p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader));
    ASSERT_TRUE(p.downloader.receive(p.to_downloader, p.downloader_plain, p.to_seeder));
    const std::string m3(p.to_seeder.view());

    // The same bytes on a new connection: the seeder's fresh ephemeral key breaks message 3.
    Channel again = Channel::responder(p.seeder_key);
    net::Buffer in, plain, out;
    in.append(m1);
    in.append(m3);
    auto s = again.receive(in, plain, out);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("message 3"), std::string::npos);
    EXPECT_FALSE(again.established());
}

TEST_P(SealTest, ASeederWithoutTheExpectedKeyIsFoundOutAtMessageTwo) {
    const KeyPair impostor = KeyPair::generate();
    const KeyPair real = KeyPair::generate();
    Channel downloader = Channel::initiator(KeyPair::generate(), real.public_key, GetParam());
    Channel seeder = Channel::responder(impostor);
    net::Buffer a, b, plain;
    a.append(downloader.start());
    // The impostor cannot even read message 1, which is sealed to the real key.
    EXPECT_FALSE(seeder.receive(a, plain, b));
}

TEST_P(SealTest, RecordsOverTheCapAreRefusedFromTheirHeader) {
    Pair p(GetParam());
    ASSERT_TRUE(p.shake());
    p.seeder.set_max_record(100);
    p.downloader.seal(std::string(100, 'a'), p.to_seeder);
    ASSERT_TRUE(p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader));
    p.downloader.seal(std::string(101, 'a'), p.to_seeder);
    net::Buffer header_only;
    header_only.append(p.to_seeder.view().substr(0, 4));
    auto s = p.seeder.receive(header_only, p.seeder_plain, p.to_downloader);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("over the 100 byte limit"), std::string::npos);
}

TEST_P(SealTest, KeysRotateInStepOverManyRecords) {
    Pair p(GetParam());
    ASSERT_TRUE(p.shake());
    for (std::uint64_t i = 0; i < CipherState::kRekeyInterval + 3; ++i) {
        p.downloader.seal("r", p.to_seeder);
        if (p.to_seeder.size() > 1 << 20) {
            ASSERT_TRUE(p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader));
            p.seeder_plain.clear();
        }
    }
    ASSERT_TRUE(p.seeder.receive(p.to_seeder, p.seeder_plain, p.to_downloader));
    EXPECT_TRUE(p.to_seeder.empty());
}

TEST(SealGreetingTest, APlainBitTorrentHandshakeIsNotASealedGreeting) {
    Channel seeder = Channel::responder(KeyPair::generate());
    net::Buffer in, plain, out;
    in.append(
        "\x13"
        "BitTorrent protocol");
    auto s = seeder.receive(in, plain, out);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, "not a sealed-channel greeting");
}

INSTANTIATE_TEST_SUITE_P(Ciphers, SealTest, ::testing::Values(Cipher::AesGcm, Cipher::ChaChaPoly),
                         [](const auto& param_info) {
                             return param_info.param == Cipher::AesGcm ? "AesGcm" : "ChaChaPoly";
                         });

}  // namespace
}  // namespace gs::peer::seal
