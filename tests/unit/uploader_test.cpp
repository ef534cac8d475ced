// The serving side's limits (UploadLimits), each at, below and past its bound: connections in
// total and per address, the handshake and idle timeouts, requests queued per connection. The
// limits are shortened so that a timeout takes a fraction of a second; the peers are plain
// sockets on 127.0.0.1 written and read by the test between turns of the loop.
#include "peer/upload/uploader.hpp"

#include "peer/wire/handshake.hpp"
#include "peer/wire/message.hpp"
#include "shared/proto/bencode.hpp"
#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/test_content.hpp"

#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace gs::peer {
namespace {

using test::info_for;
using test::random_bytes;

using namespace std::chrono_literals;
using test_support::run_for;
using test_support::run_until;

constexpr std::uint32_t kBlock = wire::kBlockBytes;
constexpr std::uint32_t kPiece = 2 * kBlock;
constexpr std::uint32_t kPieces = 8;

// A downloading peer, as raw bytes on a socket: what it sent us is parsed as it arrives.
class FakePeer {
public:
    FakePeer(std::uint16_t port, const std::string& from = "127.0.0.1") {
        net::Endpoint source{from, 0};
        auto fd = net::connect_tcp(net::Endpoint{"127.0.0.1", port}, &source);
        EXPECT_TRUE(fd.ok()) << (fd.ok() ? "" : fd.error().message);
        if (fd.ok()) fd_ = std::move(fd).value();
    }

    void send(const std::string& bytes) {
        ASSERT_EQ(::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }
    void send_handshake(const Sha1Digest& info_hash) {
        std::string out;
        wire::encode_handshake(out, wire::Handshake{info_hash, wire::random_peer_id(), true});
        send(out);
    }
    void send_requests(std::uint32_t blocks) {
        std::string out;
        for (std::uint32_t b = 0; b < blocks; ++b) {
            wire::encode_request(out, b / (kPiece / kBlock), (b % (kPiece / kBlock)) * kBlock,
                                 kBlock);
        }
        send(out);  // in one write, so the uploader reads them in one go
    }

    // Reads what has arrived; true once the uploader has closed the connection.
    bool closed() {
        poll();
        return closed_;
    }
    bool unchoked() {
        poll();
        return unchoked_;
    }
    // The blocks received, each checked against `content`.
    std::size_t blocks(const std::string& content) {
        poll();
        for (; checked_ < pieces_.size(); ++checked_) {
            const auto& [index, begin, data] = pieces_[checked_];
            EXPECT_EQ(data, content.substr(std::size_t{index} * kPiece + begin, data.size()));
        }
        return pieces_.size();
    }

private:
    struct Piece {
        std::uint32_t index, begin;
        std::string data;
    };
    void poll() {
        char buf[64 * 1024];
        for (;;) {
            ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                in_.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed_ = true;
            break;
        }
        if (!handshaken_) {
            if (in_.size() < wire::kHandshakeBytes) return;
            in_.erase(0, wire::kHandshakeBytes);
            handshaken_ = true;
        }
        std::size_t at = 0;
        for (;;) {
            std::size_t consumed = 0;
            auto m = wire::parse_message(std::string_view(in_).substr(at), consumed);
            ASSERT_TRUE(m.ok()) << m.error().message;
            if (!*m) break;
            if ((*m)->id == wire::MsgId::Unchoke) unchoked_ = true;
            if ((*m)->id == wire::MsgId::Piece) {
                pieces_.push_back({(*m)->index, (*m)->begin, std::string((*m)->payload)});
            }
            at += consumed;
        }
        in_.erase(0, at);
    }

    net::Fd fd_;
    std::string in_;
    bool handshaken_ = false;
    bool unchoked_ = false;
    bool closed_ = false;
    std::vector<Piece> pieces_;
    std::size_t checked_ = 0;
};

class UploaderTest : public ::testing::Test {
protected:
    void SetUp() override { testing::internal::CaptureStderr(); }
    void TearDown() override {
        uploader_.reset();
        log();
    }

    // An uploader serving one open share (no ticket needed) of content_.
    void start(UploadLimits limits) {
        auto listener = net::listen_tcp(net::Endpoint{"127.0.0.1", 0});
        ASSERT_TRUE(listener.ok());
        port_ = net::local_endpoint(listener->get())->port;
        std::ofstream(dir_.file("file"), std::ios::binary) << content_;
        ASSERT_TRUE(shares_.add("g", info_, dir_.file("file")).ok());
        shares_.find(info_.info_hash)->open = true;
        uploader_ = std::make_unique<Uploader>(loop_, std::move(listener).value(), shares_,
                                               wire::random_peer_id(), limits);
        uploader_->set_serving(true);
    }

    std::unique_ptr<FakePeer> connect(const std::string& from = "127.0.0.1") {
        return std::make_unique<FakePeer>(port_, from);
    }
    std::unique_ptr<FakePeer> handshaken_peer() {
        auto peer = connect();
        peer->send_handshake(info_.info_hash);
        EXPECT_TRUE(run_until(loop_, [&] { return peer->unchoked(); })) << "no answer";
        return peer;
    }
    bool sessions_reach(std::size_t n) {
        return run_until(loop_, [&] { return uploader_->session_count() == n; }, 2000ms);
    }
    // The log so far (capturing stops at the first call).
    const std::string& log() {
        if (capturing_) log_ = testing::internal::GetCapturedStderr();
        capturing_ = false;
        return log_;
    }
    bool logged(const std::string& text) { return log().find(text) != std::string::npos; }

    std::string content_ = random_bytes(std::size_t{kPieces} * kPiece, 7);
    proto::InfoDict info_ = info_for(content_, kPiece);
    test::TempDir dir_;
    net::EventLoop loop_;
    Shares shares_;
    std::uint16_t port_ = 0;
    std::unique_ptr<Uploader> uploader_;
    bool capturing_ = true;
    std::string log_;
};

TEST_F(UploaderTest, ServesRequestsQueuedUpToTheBoundAndDropsAPeerThatQueuesOneMore) {
    start(UploadLimits{.max_queued_requests = 8});
    // Below and at the bound: 7, then 8 requests in one write, all served.
    auto peer = handshaken_peer();
    peer->send_requests(7);
    EXPECT_TRUE(run_until(loop_, [&] { return peer->blocks(content_) == 7; }));
    peer->send_requests(8);
    EXPECT_TRUE(run_until(loop_, [&] { return peer->blocks(content_) == 15; }));
    EXPECT_FALSE(peer->closed());
    EXPECT_EQ(uploader_->session_count(), 1u);

    // Past it: 9 in one write; the connection is closed before any of them is served.
    auto greedy = handshaken_peer();
    greedy->send_requests(9);
    EXPECT_TRUE(run_until(loop_, [&] { return greedy->closed(); }));
    EXPECT_EQ(greedy->blocks(content_), 0u);
    EXPECT_TRUE(sessions_reach(1)) << "the first peer is still served";
    EXPECT_TRUE(logged("closed: too many requests queued (0 bytes served)")) << log();
}

TEST_F(UploaderTest, DropsASilentPeerAtTheHandshakeDeadlineAndKeepsOneThatGreetedInTime) {
    // The deadline is long next to the time the test takes to act (a tenth of it), so a loaded
    // machine cannot push the "below" case past it.
    constexpr auto kDeadline = 1000ms;
    start(UploadLimits{.handshake_timeout = kDeadline});
    const auto t0 = net::Clock::now();
    auto silent = connect();
    auto greeting = connect();
    ASSERT_TRUE(sessions_reach(2));
    // Below: a handshake well within the deadline is answered, and the connection outlives it.
    run_for(loop_, kDeadline / 10);
    greeting->send_handshake(info_.info_hash);
    EXPECT_TRUE(run_until(loop_, [&] { return greeting->unchoked(); }));
    // Past: the silent one is closed, not before the deadline.
    EXPECT_TRUE(run_until(loop_, [&] { return silent->closed(); }, 3000ms));
    EXPECT_GE(net::Clock::now() - t0, kDeadline);
    run_for(loop_, 200ms);
    EXPECT_FALSE(greeting->closed());
    EXPECT_EQ(uploader_->session_count(), 1u);
    EXPECT_TRUE(logged("closed: no handshake in time")) << log();
}

TEST_F(UploaderTest, KeepsAPeerThatSpeaksWithinTheIdleTimeoutAndDropsOneSilentForIt) {
    constexpr auto kIdle = 1000ms;
    start(UploadLimits{.idle_timeout = kIdle});
    auto peer = handshaken_peer();
    // Below: a keep-alive every 150 ms (well within the timeout), for more than two timeouts.
    std::string keep_alive;
    wire::encode_keep_alive(keep_alive);
    auto last_said = net::Clock::now();
    for (int i = 0; i < 15; ++i) {
        run_for(loop_, 150ms);
        ASSERT_FALSE(peer->closed()) << "closed after " << i << " keep-alives";
        peer->send(keep_alive);
        last_said = net::Clock::now();
    }
    // Past: silent for the timeout, then closed with the reason, not before.
    EXPECT_TRUE(run_until(loop_, [&] { return peer->closed(); }, 3000ms));
    const auto silent_for = net::Clock::now() - last_said;
    EXPECT_GE(silent_for, kIdle);
    EXPECT_LT(silent_for, kIdle + 2000ms);
    EXPECT_TRUE(sessions_reach(0));
    EXPECT_TRUE(logged("closed: idle for 1 s")) << log();
}

TEST_F(UploaderTest, CountsConnectionsPerAddressAndInTotalAndFreesASlotWhenOneCloses) {
    start(UploadLimits{.max_sessions = 3, .max_sessions_per_address = 2});
    // At the per-address bound: two from 127.0.0.1; past it: a third is refused.
    auto a1 = connect("127.0.0.1");
    auto a2 = connect("127.0.0.1");
    ASSERT_TRUE(sessions_reach(2));
    auto a3 = connect("127.0.0.1");
    EXPECT_TRUE(run_until(loop_, [&] { return a3->closed(); }));
    // Another address still gets in, up to the total; past the total, it is refused too.
    auto b1 = connect("127.0.0.2");
    ASSERT_TRUE(sessions_reach(3));
    auto c1 = connect("127.0.0.3");
    EXPECT_TRUE(run_until(loop_, [&] { return c1->closed(); }));
    EXPECT_EQ(uploader_->session_count(), 3u);
    EXPECT_FALSE(a1->closed() || a2->closed() || b1->closed());

    // A connection that ends frees its slot for its address.
    a1.reset();
    ASSERT_TRUE(sessions_reach(2));
    auto a4 = connect("127.0.0.1");
    ASSERT_TRUE(sessions_reach(3));
    EXPECT_FALSE(a4->closed());
    EXPECT_TRUE(logged("already serving 2 connections from 127.0.0.1")) << log();
    EXPECT_TRUE(logged("already serving 3 connections")) << log();
}

}  // namespace
}  // namespace gs::peer
