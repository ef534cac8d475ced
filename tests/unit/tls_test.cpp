// TLS for the client<->tracker link (docs/protocol.md §1.4): fingerprints and where they are
// pinned (tracker_info.txt's third field, known_trackers), the tracker's key and certificate,
// and framed Connections speaking TLS to each other over a socketpair in one EventLoop.
#include "shared/net/tls.hpp"
#include "shared/config.hpp"
#include "shared/net/connection.hpp"
#include "shared/net/event_loop.hpp"
#include "tests/unit/run_until.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace gs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A close_notify sent to a peer that is gone must not kill the test binary.
const bool kSigpipeIgnored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
}();

const std::string kZeros = "sha256:" + std::string(64, '0');
const std::string kHex = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "gs-tls-test-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    fs::path operator/(const std::string& name) const { return path_ / name; }

private:
    fs::path path_;
};

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- fingerprints ----

TEST(Fingerprint, AcceptsSha256AndSixtyFourHexDigits) {
    auto fp = parse_fingerprint(kHex);
    ASSERT_TRUE(fp) << fp.error().message;
    EXPECT_EQ(*fp, kHex);
}

TEST(Fingerprint, NormalisesUpperCaseAndTheColonFormOpensslPrints) {
    std::string upper = "SHA256:00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";
    EXPECT_EQ(parse_fingerprint(upper).value(), kHex);
    std::string colons =
        "sha256:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:"
        "55:66:77:88:99:aa:bb:cc:dd:ee:ff";
    EXPECT_EQ(parse_fingerprint(colons).value(), kHex);
}

TEST(Fingerprint, RefusesOtherPrefixesLengthsAndDigits) {
    for (std::string bad : {std::string("md5:") + std::string(64, '0'), std::string(64, '0'),
                            "sha256:" + std::string(63, '0'), "sha256:" + std::string(65, '0'),
                            "sha256:" + std::string(63, '0') + "g", std::string("sha256:"),
                            "sha256:00:11" + std::string(89, '0')}) {
        auto fp = parse_fingerprint(bad);
        ASSERT_FALSE(fp) << bad;
        EXPECT_THAT(fp.error().message, HasSubstr("is not a key fingerprint")) << bad;
    }
}

TEST(Fingerprint, FormatsADigestAsLowercaseHex) {
    std::string digest(32, '\0');
    digest[0] = '\xab';
    digest[31] = '\x01';
    EXPECT_EQ(format_fingerprint(digest), "sha256:ab" + std::string(60, '0') + "01");
}

// ---- tracker_info.txt ----

TEST(TrackerInfo, ThirdFieldPinsTheTrackersKey) {
    auto entries =
        parse_tracker_info("# trackers\n127.0.0.1:5000 " + kHex + "\n\n127.0.0.2:6000\t" + kZeros +
                               "  # backup\n"
                               "127.0.0.3:7000\n",
                           "tracker_info.txt");
    ASSERT_TRUE(entries) << entries.error().message;
    ASSERT_EQ(entries->size(), 3u);
    EXPECT_EQ((*entries)[0].endpoint.to_string(), "127.0.0.1:5000");
    EXPECT_EQ((*entries)[0].fingerprint, kHex);
    EXPECT_EQ((*entries)[0].line_number, 2);
    EXPECT_EQ((*entries)[1].fingerprint, kZeros);
    EXPECT_EQ((*entries)[1].line_number, 4);
    EXPECT_EQ((*entries)[2].fingerprint, "");
}

TEST(TrackerInfo, MalformedThirdFieldIsAnErrorNamingTheLine) {
    auto entries = parse_tracker_info("127.0.0.1:5000\n127.0.0.1:5001 sha256:abc\n", "ti.txt");
    ASSERT_FALSE(entries);
    EXPECT_THAT(entries.error().message, StartsWith("ti.txt line 2: 'sha256:abc' is not a key "
                                                    "fingerprint"));
}

TEST(TrackerInfo, MoreThanThreeFieldsIsAnError) {
    auto entries = parse_tracker_info("127.0.0.1:5000 " + kHex + " extra\n", "ti.txt");
    ASSERT_FALSE(entries);
    EXPECT_THAT(entries.error().message, StartsWith("ti.txt line 1: expected IP:PORT"));
}

// ---- known_trackers ----

TEST(KnownTrackers, ParsesPinsCommentsAndBlankLines) {
    auto known = KnownTrackers::parse(
        "# pinned\n127.0.0.1:5000 " + kHex + "\n\n127.0.0.1:5001 " + kZeros + "\n",
        "/d/known_trackers");
    ASSERT_TRUE(known) << known.error().message;
    ASSERT_EQ(known->pins().size(), 2u);
    const auto* pin = known->find("127.0.0.1:5001");
    ASSERT_NE(pin, nullptr);
    EXPECT_EQ(pin->fingerprint, kZeros);
    EXPECT_EQ(pin->line_number, 4);
    EXPECT_EQ(known->find("127.0.0.1:5002"), nullptr);
}

TEST(KnownTrackers, MalformedLineIsAnErrorNamingIt) {
    for (std::string text :
         {std::string("127.0.0.1:5000\n"), std::string("127.0.0.1:5000 sha256:xyz\n"),
          "localhost:5000 " + kHex + "\n", "127.0.0.1:0 " + kHex + "\n",
          "127.0.0.1:5000 " + kHex + " more\n"}) {
        auto known = KnownTrackers::parse(text, "/d/known_trackers");
        ASSERT_FALSE(known) << text;
        EXPECT_THAT(known.error().message, StartsWith("/d/known_trackers line 1: ")) << text;
        EXPECT_THAT(known.error().message, HasSubstr("fix or delete that line")) << text;
    }
}

TEST(KnownTrackers, MissingFileIsEmptyAndAddedPinsLoadBack) {
    TempDir dir;
    const std::string path = (dir / "known_trackers").string();
    auto known = KnownTrackers::load(path);
    ASSERT_TRUE(known) << known.error().message;
    EXPECT_TRUE(known->pins().empty());
    ASSERT_TRUE(known->add("127.0.0.1:5000", kHex));
    ASSERT_TRUE(known->add("127.0.0.1:5001", kZeros));
    EXPECT_EQ(known->find("127.0.0.1:5001")->line_number, 2);
    EXPECT_EQ(read_text(path), "127.0.0.1:5000 " + kHex + "\n127.0.0.1:5001 " + kZeros + "\n");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto again = KnownTrackers::load(path);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->find("127.0.0.1:5000")->fingerprint, kHex);
}

TEST(KnownTrackers, AddedPinDoesNotJoinAHandTypedLineWithoutNewline) {
    TempDir dir;
    const std::string path = (dir / "known_trackers").string();
    std::ofstream(path) << "127.0.0.1:5000 " << kHex;
    auto known = KnownTrackers::load(path);
    ASSERT_TRUE(known);
    ASSERT_TRUE(known->add("127.0.0.1:5001", kZeros));
    EXPECT_EQ(known->find("127.0.0.1:5001")->line_number, 2);
    auto again = KnownTrackers::load(path);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->pins().size(), 2u);
}

// ---- the tracker's identity ----

TEST(TlsIdentity, IsCreatedOnceWithAPrivateKeyFileAndReusedAfter) {
    TempDir dir;
    const std::string base = (dir / "tracker.db").string();
    auto first = net::load_or_create_tls_identity(base);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(first->created);
    EXPECT_EQ(first->key_path, base + ".tls-key.pem");
    EXPECT_EQ(first->cert_path, base + ".tls-cert.pem");
    EXPECT_TRUE(parse_fingerprint(first->fingerprint)) << first->fingerprint;
    struct stat st {};
    ASSERT_EQ(::stat(first->key_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto second = net::load_or_create_tls_identity(base);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_FALSE(second->created);
    EXPECT_EQ(second->fingerprint, first->fingerprint);
}

TEST(TlsIdentity, CertificateIsSelfSignedP256ForTenYearsAndMatchesItsFingerprint) {
    TempDir dir;
    auto id = net::load_or_create_tls_identity((dir / "t.db").string());
    ASSERT_TRUE(id) << id.error().message;
    FILE* f = std::fopen(id->cert_path.c_str(), "r");
    ASSERT_NE(f, nullptr);
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    ASSERT_NE(cert, nullptr);

    char cn[64] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    EXPECT_STREQ(cn, "groupshare tracker");
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);
    EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
    EVP_PKEY* key = X509_get0_pubkey(cert);
    ASSERT_NE(key, nullptr);
    EXPECT_TRUE(EVP_PKEY_is_a(key, "EC"));
    char group[32] = {};
    EVP_PKEY_get_group_name(key, group, sizeof group, nullptr);
    EXPECT_STREQ(group, "prime256v1");
    EXPECT_EQ(X509_verify(cert, key), 1);
    int days = 0;
    int seconds = 0;
    ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert), X509_get0_notAfter(cert)),
              1);
    EXPECT_GE(days, 3652);
    EXPECT_LE(days, 3653);

    unsigned char der_hash[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASSERT_EQ(X509_digest(cert, EVP_sha256(), der_hash, &len), 1);
    EXPECT_EQ(id->fingerprint,
              format_fingerprint(std::string(reinterpret_cast<char*>(der_hash), len)));
    X509_free(cert);
}

TEST(TlsIdentity, KeyWithoutCertificateGetsANewCertificateButNotTheOtherWayRound) {
    TempDir dir;
    const std::string base = (dir / "t.db").string();
    auto first = net::load_or_create_tls_identity(base);
    ASSERT_TRUE(first);
    fs::remove(first->cert_path);
    auto remade = net::load_or_create_tls_identity(base);
    ASSERT_TRUE(remade) << remade.error().message;
    EXPECT_TRUE(remade->created);
    EXPECT_NE(remade->fingerprint, first->fingerprint);

    fs::remove(first->key_path);
    auto orphan = net::load_or_create_tls_identity(base);
    ASSERT_FALSE(orphan);
    EXPECT_THAT(orphan.error().message, HasSubstr("has no private key next to it"));
}

// ---- Connections over TLS ----

// A tracker-side and a client-side Connection joined by a socketpair, in one loop on a
// ManualClock.
class TlsLink : public test_support::LoopTest {
protected:
    struct Side {
        std::unique_ptr<net::Connection> conn;
        std::vector<std::string> frames;
        std::optional<std::string> closed;
        std::optional<std::string> fingerprint;
    };

    void SetUp() override {
        auto id = net::load_or_create_tls_identity((dir_ / "t.db").string());
        ASSERT_TRUE(id) << id.error().message;
        identity_ = *id;
        auto server_ctx = net::TlsContext::server(identity_);
        ASSERT_TRUE(server_ctx) << server_ctx.error().message;
        server_ctx_.emplace(std::move(server_ctx).value());
        auto client_ctx = net::TlsContext::client();
        ASSERT_TRUE(client_ctx) << client_ctx.error().message;
        client_ctx_.emplace(std::move(client_ctx).value());
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        server_fd_ = net::Fd(fds[0]);
        client_fd_ = net::Fd(fds[1]);
    }

    void TearDown() override {
        server_.conn.reset();
        client_.conn.reset();
    }

    net::Connection::Callbacks callbacks(Side& side) {
        net::Connection::Callbacks cb;
        cb.on_frame = [&side](std::string_view body) { side.frames.emplace_back(body); };
        cb.on_closed = [&side](std::string_view reason) { side.closed = std::string(reason); };
        cb.on_secured = [&side](std::string_view fp) { side.fingerprint = std::string(fp); };
        return cb;
    }

    void start_server(net::ConnectionLimits limits = {}) {
        auto session = net::TlsSession::create(*server_ctx_, server_fd_.get());
        ASSERT_TRUE(session);
        server_.conn = std::make_unique<net::Connection>(loop_, std::move(server_fd_), "client",
                                                         callbacks(server_), limits,
                                                         std::move(session).value());
    }

    void start_client(net::Connection::Callbacks cb) {
        auto session = net::TlsSession::create(*client_ctx_, client_fd_.get());
        ASSERT_TRUE(session);
        client_.conn = std::make_unique<net::Connection>(loop_, std::move(client_fd_), "tracker",
                                                         std::move(cb), net::ConnectionLimits{},
                                                         std::move(session).value());
    }

    TempDir dir_;
    net::TlsIdentity identity_;
    std::optional<net::TlsContext> server_ctx_;
    std::optional<net::TlsContext> client_ctx_;
    net::Fd server_fd_;
    net::Fd client_fd_;
    Side server_;
    Side client_;
};

TEST_F(TlsLink, FramesQueuedBeforeTheHandshakeArriveAfterItBothWays) {
    start_server();
    start_client(callbacks(client_));
    client_.conn->send_frame("hello");
    client_.conn->send_frame("again");
    EXPECT_TRUE(client_.conn->is_handshaking());
    ASSERT_TRUE(run_until([&] { return server_.frames.size() == 2; }));
    EXPECT_EQ(client_.fingerprint, identity_.fingerprint);
    server_.conn->send_frame("reply");
    ASSERT_TRUE(run_until([&] { return client_.frames.size() == 1; }));
    EXPECT_THAT(server_.frames, ::testing::ElementsAre("hello", "again"));
    EXPECT_EQ(client_.frames[0], "reply");
}

TEST_F(TlsLink, LargeFramesCrossInBothDirectionsIntact) {
    start_server();
    start_client(callbacks(client_));
    // Bigger than the per-event read cap and the socket buffers: partial writes, reads resumed
    // for bytes OpenSSL holds, several events.
    std::string big(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
    for (int i = 0; i < 3; ++i) client_.conn->send_frame(big);
    ASSERT_TRUE(run_until([&] { return server_.frames.size() == 3; }));
    for (const auto& f : server_.frames) EXPECT_TRUE(f == big);
    server_.conn->send_frame(big);
    ASSERT_TRUE(run_until([&] { return client_.frames.size() == 1; }));
    EXPECT_TRUE(client_.frames[0] == big);
    EXPECT_FALSE(server_.closed.has_value());
    EXPECT_FALSE(client_.closed.has_value());
}

TEST_F(TlsLink, CloseAfterFlushDeliversTheLastFrameThenACleanClose) {
    start_server();
    start_client(callbacks(client_));
    client_.conn->send_frame("ping");
    ASSERT_TRUE(run_until([&] { return server_.frames.size() == 1; }));
    server_.conn->send_frame("bye");
    server_.conn->close_after_flush("done");
    ASSERT_TRUE(run_until([&] { return client_.closed.has_value(); }));
    EXPECT_THAT(client_.frames, ::testing::ElementsAre("bye"));
    EXPECT_EQ(*client_.closed, "closed by peer");
    EXPECT_EQ(server_.closed, "done");
}

TEST_F(TlsLink, OwnerRefusingThePeerInOnSecuredSendsNothing) {
    start_server();
    auto cb = callbacks(client_);
    cb.on_secured = [this](std::string_view fp) {
        client_.fingerprint = std::string(fp);
        client_.conn->close_now("key mismatch");
    };
    start_client(std::move(cb));
    client_.conn->send_frame("secret");
    ASSERT_TRUE(run_until([&] { return server_.closed.has_value(); }));
    EXPECT_EQ(client_.closed, "key mismatch");
    EXPECT_TRUE(server_.frames.empty());
}

TEST_F(TlsLink, JunkInsteadOfAClientHelloClosesWithTheReason) {
    start_server();
    const std::string junk = "this is not a TLS client hello at all\r\n\r\n";
    ASSERT_EQ(::write(client_fd_.get(), junk.data(), junk.size()),
              static_cast<ssize_t>(junk.size()));
    ASSERT_TRUE(run_until([&] { return server_.closed.has_value(); }));
    EXPECT_THAT(*server_.closed, StartsWith("tls handshake: error:"));
    EXPECT_EQ(server_.closed->find('\n'), std::string::npos);
    EXPECT_TRUE(server_.frames.empty());
}

TEST_F(TlsLink, PeerThatNeverCompletesTheHandshakeIsClosedAtTheDeadline) {
    net::ConnectionLimits limits;
    limits.handshake_timeout = 200ms;
    const auto t0 = clock_.now();
    start_server(limits);
    advance(200ms - 1ns);
    EXPECT_FALSE(server_.closed.has_value()) << "closed before the deadline: " << *server_.closed;
    advance(1ns);
    ASSERT_TRUE(server_.closed.has_value());
    EXPECT_GE(clock_.now() - t0, 190ms);
    EXPECT_EQ(*server_.closed, "tls handshake timed out");
}

TEST_F(TlsLink, HandshakeDoneBeforeTheDeadlineKeepsTheConnectionPastIt) {
    net::ConnectionLimits limits;
    limits.handshake_timeout = 200ms;
    start_server(limits);
    start_client(callbacks(client_));
    ASSERT_TRUE(run_until([&] { return server_.fingerprint.has_value(); }));
    const auto secured_at = clock_.now();
    // A frame sent well after the deadline still arrives on the same connection.
    loop_.after(400ms, [&] { client_.conn->send_frame("after the deadline"); });
    advance(400ms);
    ASSERT_TRUE(run_until([&] { return !server_.frames.empty() || server_.closed; }));
    EXPECT_GE(clock_.now() - secured_at, 400ms);
    EXPECT_THAT(server_.frames, ::testing::ElementsAre("after the deadline"));
    EXPECT_FALSE(server_.closed.has_value());
    EXPECT_FALSE(client_.closed.has_value());
}

TEST_F(TlsLink, OversizedFrameIsRefusedOverTlsToo) {
    net::ConnectionLimits limits;
    limits.max_frame_bytes = 1000;
    auto session = net::TlsSession::create(*server_ctx_, server_fd_.get());
    ASSERT_TRUE(session);
    auto cb = callbacks(server_);
    std::optional<std::uint32_t> declared;
    cb.on_oversized = [&](std::uint32_t bytes) {
        declared = bytes;
        server_.conn->send_frame("too big");
    };
    server_.conn = std::make_unique<net::Connection>(
        loop_, std::move(server_fd_), "client", std::move(cb), limits, std::move(session).value());
    start_client(callbacks(client_));
    client_.conn->send_frame(std::string(1001, 'x'));
    ASSERT_TRUE(run_until([&] { return client_.closed.has_value(); }));
    EXPECT_EQ(declared, 1001u);
    EXPECT_THAT(client_.frames, ::testing::ElementsAre("too big"));
    EXPECT_EQ(server_.closed, "oversized frame");
}

}  // namespace
}  // namespace gs
