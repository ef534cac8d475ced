// The sealed channel's Noise XK against the Noise protocol's published test vectors: the
// "cacophony" and "snow" vector files (JSON, as used by the Noise libraries cacophony and snow),
// entries Noise_XK_25519_AESGCM_SHA256 and Noise_XK_25519_ChaChaPoly_SHA256. Each vector fixes
// both sides' static and ephemeral keys, the prologue and the payloads; the three handshake
// messages, the handshake hash (where the file gives it) and the transport messages after the
// handshake must come out byte for byte, and each side must read what the other wrote. Our
// handshake differs from the vectors' only in its prologue (the preamble) and empty payloads,
// which the last test pins: its messages are plain Noise ones with the preamble as prologue.
#include "peer/seal/noise.hpp"
#include "shared/sha1.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gs::peer::seal {
namespace {

struct Message {
    const char* payload;
    const char* ciphertext;
};

struct Vector {
    const char* name;
    Cipher cipher;
    const char* prologue;
    const char* init_static;
    const char* init_ephemeral;
    const char* init_remote_static;
    const char* resp_static;
    const char* resp_ephemeral;
    const char* handshake_hash;  // "" when the file has none
    std::vector<Message> messages;
};

void PrintTo(const Vector& v, std::ostream* os) {
    *os << v.name;
}

// Copied from the vector files; hex as there.
const std::vector<Vector> kVectors = {
    {
        // cacophony.txt: Noise_XK_25519_AESGCM_SHA256
        .name = "CacophonyAesGcm",
        .cipher = Cipher::AesGcm,
        .prologue = "4a6f686e2047616c74",
        .init_static = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
        .init_ephemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
        .init_remote_static = "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62",
        .resp_static = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
        .resp_ephemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
        .handshake_hash = "4f5a40e425d3adcdb2c715d988e4ef8763ed0f8aa0fe78e2d2879d71b2d38186",
        .messages =
            {
                {"4c756477696720766f6e204d69736573",
                 "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
                 "e11634ba393ac9f93896f767741fe7297c64b52a95b20bc07a8c5983eb100a5e"},
                {"4d757272617920526f746862617264",
                 "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
                 "aabea6c8883a5a6de7804420322c70994289ffe724df10411be50430b113da"},
                {"462e20412e20486179656b",
                 "99e0eed98437100ab575e5aa157f20ae23f024a43c58628646991c47e81e64af"
                 "9c46165872069c5794e99a6d116142986f3b803df2a6c12f39702f669d5d7818"
                 "511d6b41218f19cea974ea"},
                {"4361726c204d656e676572",
                 "c0502067840ee81f03a76badcc8c4264847069452a9f7531d74f68"},
                {"4a65616e2d426170746973746520536179",
                 "e2ce8208bd0c04c6ad779ae52b429d8cb6128a245297857e2c593576c75098b0"
                 "71"},
                {"457567656e2042f6686d20766f6e2042617765726b",
                 "5b75e02c3584b6b202de94cc05d6063970c9da7e67283c258820381207706cd7"
                 "67b5b1152d"},
            },
    },
    {
        // cacophony.txt: Noise_XK_25519_ChaChaPoly_SHA256
        .name = "CacophonyChaChaPoly",
        .cipher = Cipher::ChaChaPoly,
        .prologue = "4a6f686e2047616c74",
        .init_static = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
        .init_ephemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
        .init_remote_static = "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62",
        .resp_static = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
        .resp_ephemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
        .handshake_hash = "cefffc5d1074126cc980ebfe902587ff36ba61dc77d4447ebe0f96dc22ae59d7",
        .messages =
            {
                {"4c756477696720766f6e204d69736573",
                 "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
                 "a3785af283c991bab613473804356ef6931f83acf64f99c274b93570857cfc5e"},
                {"4d757272617920526f746862617264",
                 "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
                 "3a4534805fa9fe4eb8343ace6609160c767ad9b832e8eea1d9b7a2111818dd"},
                {"462e20412e20486179656b",
                 "5d8e67b9c1b8e36f5dc674bc5cd2ce243fb5d1710fa57de0370da7cc97901539"
                 "8eaad94603b05498ba9a613d2fd923dcaa6fd4288dfd8d70f419bf737efb4cd3"
                 "7f5da37ebb728849318c82"},
                {"4361726c204d656e676572",
                 "3205e1265f809505e6edc092839d3156745d2abafbfd946b261e41"},
                {"4a65616e2d426170746973746520536179",
                 "470bcb1ae099555ff0d729500df550418d6ee5149d9e40bd2f4c6b3d263cc818"
                 "d5"},
                {"457567656e2042f6686d20766f6e2042617765726b",
                 "d7187ed9d217ba6e91cf596e4871012ccedf7b5bed0d4cb8f7affb020fa17a95"
                 "a23371e0f6"},
            },
    },
    {
        // snow.txt: Noise_XK_25519_ChaChaPoly_SHA256
        .name = "SnowChaChaPoly",
        .cipher = Cipher::ChaChaPoly,
        .prologue = "5468657265206973206e6f20726967687420616e642077726f6e672e20546865"
                    "72652773206f6e6c792066756e20616e6420626f72696e672e",
        .init_static = "d79245fc228517d26ab3026f901e6de5e87029f62f5337bb7aeaf290630663c5",
        .init_ephemeral = "821a1cfc35eafdfd7ceec182cea0b46a8b41715f8b1a6c3255da349a4205a912",
        .init_remote_static = "baa04200175deb54e07ebee17c69f8a464400d33504a8f0b960a49638712df5c",
        .resp_static = "41f32f158d5bde75b0814850d79885e717c1858b34ae1787911dabb846dfb28a",
        .resp_ephemeral = "d3d600d3d556e1819de798950067a5b9f07977aa4dfc7ccea983bccc4f92ed5d",
        .handshake_hash = "",
        .messages =
            {
                {"5ff166c364c401f5cccefe5dbef2399eb35af4f77373ac26e98cc2178b3d4f05",
                 "e72ac10bdc197cc923051ac8ce5e8f952873928d4c0be6bc3e1ce2c44a5d8948"
                 "fcff0ce5c4eb228940fa1f01db75144acf89e5f5fe3f456ebb2439d1c59e4308"
                 "40751ef5f93567d268d5399b78c56137"},
                {"44d9a8b2dfc5e4db9109c08e7345ad331bc74d16d5580a0ccab5695a0d4ea406",
                 "573253370220f0dcfae0ff8f800d885f67aaa0aabf13191e4b17241b0a50ba17"
                 "21b33d6f53bb9147724bb5f9b80347d4151c68de9ecd62170433df78eb5e3dee"
                 "843ced53014a2922d7f7c7a447ddc347"},
                {"82e4f70bd164c183c4d116f4d18e92c1e8c57257dcc5414b10e1df7ba66490dc",
                 "7aee57bc9c27b1489388b1b114335b1c777a242dd3f199d0a44cf3588910371c"
                 "fefaced10536e91859a496caeb78f52e63d3703766c33e05bbd94c985421e1d1"
                 "461d769fd6b9f333b32ca30cb17ee09ac7af9b7499a5a8d0a3e19aff0e1dd055"},
                {"534f98102268d35aed2ad42b7929840845b67f3d1e27fa05b9365675cdf9ecf3",
                 "c837eb9eba146171756bdc87f554052496e2ccc7c8e7a224d49a53302240134c"
                 "9925c8919662f162f8e086dc93694eb1"},
                {"7cdebd667263c56a74ed30fcc0783f4ee90b17cc4e8c4c31e47f81484211caf1",
                 "553d810ba41db883b8f990b088f834eecf960c66dc63c65eefef0a51e5661289"
                 "069ce103e5c9b742ae33806d383eb2a1"},
            },
    },
    {
        // snow.txt: Noise_XK_25519_AESGCM_SHA256
        .name = "SnowAesGcm",
        .cipher = Cipher::AesGcm,
        .prologue = "5468657265206973206e6f20726967687420616e642077726f6e672e20546865"
                    "72652773206f6e6c792066756e20616e6420626f72696e672e",
        .init_static = "1f36c7a00ce8ae9f0509674d1483c1d0c5775b83230631a82f82a533b9738a21",
        .init_ephemeral = "b8df662ede2217413bca39cf981ef30c6382285ca7c4452396b1fc1366333ab3",
        .init_remote_static = "ff2a30f84c177affa0cdcb32240b6d8cd496482fa680a441dccf92ede5093309",
        .resp_static = "9f9b757c1a35ba3bc6f151e437e7b9dfdacd497ac708115ffd790f8207798f87",
        .resp_ephemeral = "531c9d5b6535b7f830882759451c53dacdd5a7355c57b6daa68c5f122ad32de2",
        .handshake_hash = "",
        .messages =
            {
                {"c048314213ad040535390bba08886d5fdd85597e5ae4a8de991f16cba9fb2c12",
                 "81b150a9965c8985b40807af9830c89e4a4308610e3aad9e4ac78da45757eb67"
                 "b025ac04b60dd9ce30d25766658f7bc10fac9354265d2d62ebfe3b08dea956db"
                 "0a1df76a70be6c7154e791d3f6cf2fb5"},
                {"5a58fb4b50d9eecd5a5f98d2354fb7520f06f727cc8839160307957477177c24",
                 "35fc23adce52388222070c2e822fdbd07da46baa3f4ceb385a70b61816a3944d"
                 "0eb4de0d7a8a5c64abfb69127d90e2f26fcc24bbaf39830d45c65f0d8548155d"
                 "7c9944c7995f8a851845764cf226e903"},
                {"7e87da6fade40c7aeddadcd6009552e402ebeeb6e400835ebec5697879506e4b",
                 "4d6c8fea2d2a3d91d3ee3e6500125952e340256ee3bf84b3b541cce7531f0a1a"
                 "039a83af32158089634e94947b5dcc936730706e3e3e051f1647235c27cd1392"
                 "d1da77f2c9a9f7e72dc289d750dedd5b15bb4cbe1490e49919f73fcfd9344529"},
                {"8479f9338d4505673f9cb53baff4e625780e87403aaa8a95c1ec4fd850b2579e",
                 "0539a9d2425cc3854a69676a9dad3cf77d3cca019d482a7a4397693d613aeb2c"
                 "e84cce67de33f704d5c3f034f0a83831"},
                {"cc731a31d0d85315288312729d58e03a0492bd59d611ecfc6a40afb368a98895",
                 "8945d8f40b8e09cc99a09d85aae9d589df34a0512aaaa7c16185aa17b9577885"
                 "518fdb44062ef0d92a95797669de75db"},
            },
    },
};

std::string bytes(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(hex_digit_value(hex[i]) * 16 + hex_digit_value(hex[i + 1]));
    }
    return out;
}

Key key(std::string_view hex) {
    auto k = key_from_hex(hex);
    EXPECT_TRUE(k) << hex;
    return k ? *k : Key{};
}

std::string hex(std::string_view b) {
    return gs::to_hex(b);
}

class NoiseVectorTest : public ::testing::TestWithParam<Vector> {};

TEST_P(NoiseVectorTest, HandshakeAndTransportMessagesMatch) {
    const Vector& v = GetParam();
    ASSERT_GE(v.messages.size(), 3u);
    const KeyPair init_static = KeyPair::from_secret(key(v.init_static));
    const KeyPair resp_static = KeyPair::from_secret(key(v.resp_static));
    ASSERT_EQ(to_hex(resp_static.public_key), v.init_remote_static);

    Handshake init = Handshake::for_test(true, init_static, key(v.init_remote_static), v.cipher,
                                         bytes(v.prologue));
    Handshake resp = Handshake::for_test(false, resp_static, Key{}, v.cipher, bytes(v.prologue));
    init.set_ephemeral_for_test(KeyPair::from_secret(key(v.init_ephemeral)));
    resp.set_ephemeral_for_test(KeyPair::from_secret(key(v.resp_ephemeral)));

    // -> e, es; <- e, ee; -> s, se: written by one side, read by the other.
    for (int n = 1; n <= 3; ++n) {
        SCOPED_TRACE(::testing::Message() << "handshake message " << n);
        const Message& m = v.messages[n - 1];
        Handshake& writer = n == 2 ? resp : init;
        Handshake& reader = n == 2 ? init : resp;
        const std::string wire = writer.write_for_test(n, bytes(m.payload));
        EXPECT_EQ(hex(wire), m.ciphertext);
        auto payload = reader.read_for_test(n, bytes(m.ciphertext));
        ASSERT_TRUE(payload) << payload.error().message;
        EXPECT_EQ(hex(*payload), m.payload);
    }

    Transport ti = init.split();
    Transport tr = resp.split();
    EXPECT_EQ(to_hex(ti.handshake_hash), to_hex(tr.handshake_hash));
    if (*v.handshake_hash != '\0') {
        EXPECT_EQ(to_hex(ti.handshake_hash), v.handshake_hash);
    }
    EXPECT_EQ(tr.remote_static, init_static.public_key);

    // Transport messages: the directions keep alternating, so the responder sends the fourth.
    for (std::size_t i = 3; i < v.messages.size(); ++i) {
        SCOPED_TRACE(::testing::Message() << "transport message " << i + 1);
        const Message& m = v.messages[i];
        Transport& from = i % 2 == 1 ? tr : ti;
        Transport& to = i % 2 == 1 ? ti : tr;
        const std::string plain = bytes(m.payload);
        std::string sealed(plain.size() + kTagBytes, '\0');
        auto* out = reinterpret_cast<std::uint8_t*>(sealed.data());
        from.send.encrypt_record(reinterpret_cast<const std::uint8_t*>(plain.data()), out,
                                 plain.size(), out + plain.size());
        EXPECT_EQ(hex(sealed), m.ciphertext);

        const std::string wire = bytes(m.ciphertext);
        std::string opened(plain.size(), '\0');
        auto* in = reinterpret_cast<const std::uint8_t*>(wire.data());
        ASSERT_TRUE(to.receive.decrypt_record(in, reinterpret_cast<std::uint8_t*>(opened.data()),
                                              plain.size(), in + plain.size()));
        EXPECT_EQ(opened, plain);
    }
}

INSTANTIATE_TEST_SUITE_P(Files, NoiseVectorTest, ::testing::ValuesIn(kVectors),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// The production messages are the vectors' plain Noise with the preamble as the prologue, no
// payloads, and the preamble in front of message 1; both sides agree on the handshake hash.
TEST(NoiseVectorProductionTest, MessagesArePlainNoiseWithThePreambleAsPrologue) {
    for (const Vector& v : kVectors) {
        SCOPED_TRACE(v.name);
        const KeyPair init_static = KeyPair::from_secret(key(v.init_static));
        const KeyPair resp_static = KeyPair::from_secret(key(v.resp_static));
        const KeyPair init_e = KeyPair::from_secret(key(v.init_ephemeral));
        const KeyPair resp_e = KeyPair::from_secret(key(v.resp_ephemeral));
        std::string preamble(kPreambleStem);
        preamble += static_cast<char>(v.cipher);

        Handshake init = Handshake::initiator(init_static, resp_static.public_key, v.cipher);
        Handshake resp = Handshake::responder(resp_static);
        init.set_ephemeral_for_test(init_e);
        resp.set_ephemeral_for_test(resp_e);
        Handshake plain_init =
            Handshake::for_test(true, init_static, resp_static.public_key, v.cipher, preamble);
        Handshake plain_resp = Handshake::for_test(false, resp_static, Key{}, v.cipher, preamble);
        plain_init.set_ephemeral_for_test(init_e);
        plain_resp.set_ephemeral_for_test(resp_e);

        const std::string m1 = init.write_message1();
        ASSERT_EQ(m1.size(), kMessage1Bytes);
        EXPECT_EQ(m1.substr(0, kPreambleBytes), preamble);
        EXPECT_EQ(hex(m1.substr(kPreambleBytes)), hex(plain_init.write_for_test(1, "")));
        ASSERT_TRUE(resp.read_message1(m1));
        ASSERT_TRUE(plain_resp.read_for_test(1, m1.substr(kPreambleBytes)));

        const std::string m2 = resp.write_message2();
        ASSERT_EQ(m2.size(), kMessage2Bytes);
        EXPECT_EQ(hex(m2), hex(plain_resp.write_for_test(2, "")));
        ASSERT_TRUE(init.read_message2(m2));
        ASSERT_TRUE(plain_init.read_for_test(2, m2));

        const std::string m3 = init.write_message3();
        ASSERT_EQ(m3.size(), kMessage3Bytes);
        EXPECT_EQ(hex(m3), hex(plain_init.write_for_test(3, "")));
        ASSERT_TRUE(resp.read_message3(m3));
        ASSERT_TRUE(plain_resp.read_for_test(3, m3));

        const Transport ti = init.split();
        const Transport tr = resp.split();
        EXPECT_EQ(ti.handshake_hash, tr.handshake_hash);
        EXPECT_EQ(ti.handshake_hash, plain_init.split().handshake_hash);
        EXPECT_EQ(tr.handshake_hash, plain_resp.split().handshake_hash);
        EXPECT_EQ(tr.remote_static, init_static.public_key);
    }
}

}  // namespace
}  // namespace gs::peer::seal
