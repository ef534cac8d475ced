// net::Connection's limits (shared/net/connection.hpp, docs/protocol.md §1.1): the idle timeout
// and the frame cap, each at, below and above its bound; and how it writes: at once, asking for
// writability only while bytes remain, and reading no more past its output high-water mark. One
// Connection over a socketpair in an EventLoop on a ManualClock (deadlines are exact, in no real
// time); the test plays the peer with plain reads and writes on the other end.
#include "shared/net/connection.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/proto/frame.hpp"
#include "tests/unit/run_until.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gs::net {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

class ConnectionTest : public test_support::LoopTest {
protected:
    void SetUp() override {
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        ours_ = Fd(fds[0]);
        peer_ = Fd(fds[1]);
    }

    void TearDown() override { conn_.reset(); }

    void start(ConnectionLimits limits) {
        Connection::Callbacks cb;
        cb.on_frame = [this](std::string_view body) {
            frames_.emplace_back(body);
            last_frame_at_ = loop_.now();
        };
        cb.on_oversized = [this](std::uint32_t declared) {
            oversized_ = declared;
            conn_->send_frame("too big");
        };
        cb.on_closed = [this](std::string_view reason) {
            closed_ = std::string(reason);
            closed_at_ = loop_.now();
        };
        conn_ =
            std::make_unique<Connection>(loop_, std::move(ours_), "peer", std::move(cb), limits);
    }

    void peer_sends(std::string_view bytes) {
        ASSERT_EQ(::write(peer_.get(), bytes.data(), bytes.size()),
                  static_cast<ssize_t>(bytes.size()));
    }

    // Everything the peer end can read now (all it received, once the connection has closed).
    std::string peer_reads_to_end() {
        std::string got;
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(peer_.get(), buf, sizeof buf);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }

    // One turn of the loop that waits for nothing; true if anything ran.
    bool turn() { return loop_.run_once(Clock::duration::zero()); }

    Fd ours_;
    Fd peer_;
    std::unique_ptr<Connection> conn_;
    std::vector<std::string> frames_;
    Clock::time_point last_frame_at_;
    std::optional<std::uint32_t> oversized_;
    std::optional<std::string> closed_;
    Clock::time_point closed_at_;
};

// ---- idle timeout ----

TEST_F(ConnectionTest, PeerThatSendsNothingIsClosedAtTheIdleTimeoutAndNotBefore) {
    ConnectionLimits limits;
    limits.idle_timeout = 300ms;
    const auto t0 = clock_.now();
    start(limits);
    advance(300ms - 1ns);
    EXPECT_FALSE(closed_.has_value()) << "closed before the idle timeout: " << *closed_;
    advance(1ns);
    ASSERT_TRUE(closed_.has_value());
    EXPECT_EQ(*closed_, "idle timeout");
    EXPECT_GE(closed_at_ - t0, 300ms);
    EXPECT_LT(closed_at_ - t0, 2s);
    EXPECT_EQ(closed_at_ - t0, 300ms) << "at the deadline exactly";
    EXPECT_EQ(peer_reads_to_end(), "") << "the peer sees the close and nothing else";
}

TEST_F(ConnectionTest, PeerActiveMoreOftenThanTheIdleTimeoutStaysOpenUntilItStops) {
    ConnectionLimits limits;
    limits.idle_timeout = 400ms;
    start(limits);
    // A frame every 100 ms for three times the timeout: each gap is below the bound.
    constexpr int kFrames = 12;
    int sent = 0;
    std::function<void()> send_next = [&] {
        peer_sends(proto::make_frame("ping " + std::to_string(++sent)));
        if (sent < kFrames) loop_.after(100ms, send_next);
    };
    loop_.after(100ms, send_next);
    // A socketpair delivers at once: each frame is read at the time it is sent.
    advance(kFrames * 100ms);
    ASSERT_TRUE(run_until([&] { return frames_.size() == kFrames || closed_.has_value(); }));
    ASSERT_FALSE(closed_.has_value())
        << "closed after " << frames_.size() << " frames: " << *closed_;
    EXPECT_TRUE(conn_->is_open());
    EXPECT_EQ(last_frame_at_, clock_.now());

    // Then silence: closed once the timeout has passed since the last frame, not before.
    advance(400ms - 1ns);
    EXPECT_FALSE(closed_.has_value()) << "closed before the idle timeout";
    advance(1ns);
    ASSERT_TRUE(closed_.has_value());
    EXPECT_EQ(*closed_, "idle timeout");
    EXPECT_GE(closed_at_ - last_frame_at_, 400ms);
    EXPECT_LT(closed_at_ - last_frame_at_, 2s);
}

TEST_F(ConnectionTest, IdleTimeoutOfZeroNeverCloses) {
    start(ConnectionLimits{});  // idle_timeout 0
    // A frame after a long silence still finds the connection open.
    loop_.after(24h, [&] { peer_sends(proto::make_frame("late")); });
    advance(24h);
    ASSERT_TRUE(run_until([&] { return !frames_.empty() || closed_.has_value(); }));
    EXPECT_THAT(frames_, ElementsAre("late"));
    EXPECT_FALSE(closed_.has_value());
}

// ---- frame cap ----

TEST_F(ConnectionTest, FramesBelowAndAtTheCapAreDelivered) {
    ConnectionLimits limits;
    limits.max_frame_bytes = 1000;
    start(limits);
    peer_sends(proto::make_frame(std::string(999, 'a')));
    peer_sends(proto::make_frame(std::string(1000, 'b')));
    ASSERT_TRUE(run_until([&] { return frames_.size() == 2 || closed_.has_value(); }));
    EXPECT_THAT(frames_, ElementsAre(std::string(999, 'a'), std::string(1000, 'b')));
    EXPECT_FALSE(oversized_.has_value());
    EXPECT_TRUE(conn_->is_open());
}

TEST_F(ConnectionTest, FrameOneByteOverTheCapGetsOneReplyThenTheConnectionCloses) {
    ConnectionLimits limits;
    limits.max_frame_bytes = 1000;
    start(limits);
    // Only the header: the refusal cannot wait for the body.
    std::string frame = proto::make_frame(std::string(1001, 'c'));
    peer_sends(frame.substr(0, proto::kFrameHeaderBytes));
    ASSERT_TRUE(run_until([&] { return closed_.has_value(); }));
    EXPECT_EQ(oversized_, 1001u);
    EXPECT_EQ(*closed_, "oversized frame");
    EXPECT_TRUE(frames_.empty());
    EXPECT_EQ(peer_reads_to_end(), proto::make_frame("too big"));
}

// The input buffer takes one frame at the cap at a time (Connection::input_room): many frames
// sent at once are still all delivered, in order, however small the cap.
TEST_F(ConnectionTest, ManyFramesSentAtOnceAreAllDeliveredThroughAOneFrameBuffer) {
    ConnectionLimits limits;
    limits.max_frame_bytes = 100;
    start(limits);
    constexpr int kFrames = 400;  // 41 KB in one write, 400 times the room
    std::string burst;
    for (int i = 0; i < kFrames; ++i) {
        burst +=
            proto::make_frame(std::string(i % 2 == 0 ? 100 : 7, static_cast<char>('a' + i % 26)));
    }
    peer_sends(burst);
    ASSERT_TRUE(run_until([&] { return frames_.size() == kFrames || closed_.has_value(); }));
    ASSERT_EQ(frames_.size(), static_cast<std::size_t>(kFrames));
    for (int i = 0; i < kFrames; ++i) {
        EXPECT_EQ(frames_[static_cast<std::size_t>(i)],
                  std::string(i % 2 == 0 ? 100 : 7, static_cast<char>('a' + i % 26)))
            << "frame " << i;
    }
    EXPECT_TRUE(conn_->is_open());
}

// pause_input (the tracker's back-pressure while a connection's requests wait for the
// database): no frame is handed on while paused, not even those already read, and nothing is
// lost; resuming hands them on in a later turn, in order, and reading goes on.
TEST_F(ConnectionTest, PausedInputHandsOnNothingUntilResumedThenEverythingInOrder) {
    ConnectionLimits limits;
    limits.max_frame_bytes = 100;
    bool pause_after_first = true;
    std::string burst;
    for (char c = 'a'; c <= 'e'; ++c) burst += proto::make_frame(std::string(1, c));
    // The first frame pauses the input from inside the frame callback, as the Dispatcher does.
    conn_.reset();
    Connection::Callbacks cb;
    cb.on_frame = [&](std::string_view body) {
        frames_.emplace_back(body);
        if (pause_after_first) {
            pause_after_first = false;
            conn_->pause_input(true);
        }
    };
    cb.on_closed = [this](std::string_view reason) { closed_ = std::string(reason); };
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    peer_ = Fd(fds[1]);
    conn_ = std::make_unique<Connection>(loop_, Fd(fds[0]), "peer", std::move(cb), limits);
    peer_sends(burst);
    ASSERT_TRUE(run_until([&] { return !frames_.empty(); }));
    run_until_idle();
    EXPECT_EQ(frames_, (std::vector<std::string>{"a"}));
    EXPECT_TRUE(conn_->is_input_paused());
    peer_sends(proto::make_frame("f"));
    run_until_idle();
    EXPECT_EQ(frames_.size(), 1u) << "a frame was handed on while paused";
    conn_->pause_input(false);
    EXPECT_EQ(frames_.size(), 1u) << "resuming handed frames on inside the call";
    ASSERT_TRUE(run_until([&] { return frames_.size() == 6; }));
    EXPECT_EQ(frames_, (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
    EXPECT_TRUE(conn_->is_open());
}

// set_frame_limits (the tracker's cap before and after login): the new cap holds from the next
// frame, raised and lowered again.
TEST_F(ConnectionTest, FrameCapChangedOnTheFlyHoldsFromTheNextFrame) {
    ConnectionLimits limits;
    limits.max_frame_bytes = 100;
    start(limits);
    conn_->set_frame_limits(1000, limits.output_high_water_bytes);
    EXPECT_EQ(conn_->max_frame_bytes(), 1000u);
    peer_sends(proto::make_frame(std::string(1000, 'x')));
    ASSERT_TRUE(run_until([&] { return frames_.size() == 1 || closed_.has_value(); }));
    EXPECT_THAT(frames_, ElementsAre(std::string(1000, 'x')));
    conn_->set_frame_limits(100, limits.output_high_water_bytes);
    peer_sends(proto::make_frame(std::string(100, 'y')));
    ASSERT_TRUE(run_until([&] { return frames_.size() == 2 || closed_.has_value(); }));
    peer_sends(proto::make_frame(std::string(101, 'z')).substr(0, proto::kFrameHeaderBytes));
    ASSERT_TRUE(run_until([&] { return closed_.has_value(); }));
    EXPECT_EQ(oversized_, 101u);
    EXPECT_EQ(frames_.size(), 2u);
}

// ---- writing ----

TEST_F(ConnectionTest, AFrameIsWrittenAtOnceAndWritabilityIsNotAskedForAfterwards) {
    start(ConnectionLimits{});
    run_until_idle();
    conn_->send_frame("hello");
    // On the socket before any turn of the loop.
    EXPECT_EQ(peer_reads_to_end(), proto::make_frame("hello"));
    // The socket is writable, but the connection has nothing left to write: watching for
    // writability would run its handler every turn.
    EXPECT_FALSE(turn());
    EXPECT_FALSE(closed_.has_value());
}

TEST_F(ConnectionTest, WhatTheSocketCannotTakeIsWrittenAsThePeerDrainsItThenWritesStop) {
    start(ConnectionLimits{});
    const std::string body(1024 * 1024, 'w');  // more than a socketpair buffers
    conn_->send_frame(body);
    std::string got = peer_reads_to_end();
    ASSERT_LT(got.size(), body.size()) << "the socket took it all: nothing left to test";
    ASSERT_GT(got.size(), 0u) << "nothing was written at once";
    // The rest goes out as the socket drains.
    ASSERT_TRUE(run_until([&] {
        got += peer_reads_to_end();
        return got.size() >= body.size() + proto::kFrameHeaderBytes;
    }));
    EXPECT_EQ(got, proto::make_frame(body));
    // All sent: the socket is writable, but no handler runs.
    run_until_idle();
    EXPECT_FALSE(turn());
}

TEST_F(ConnectionTest, PastTheOutputHighWaterMarkItStopsReadingUntilThePeerDrainsIt) {
    ConnectionLimits limits;
    limits.output_high_water_bytes = 64 * 1024;
    start(limits);
    // Far more than the socket takes: most of it stays queued, over the mark.
    const std::string reply(4 * 1024 * 1024, 'r');
    conn_->send_frame(reply);
    peer_sends(proto::make_frame("are you there?"));
    run_until_idle();
    EXPECT_TRUE(frames_.empty()) << "read past the high-water mark";

    // The peer reads; once the queue is under the mark the question is read.
    std::string got;
    ASSERT_TRUE(run_until([&] {
        got += peer_reads_to_end();
        return !frames_.empty() || closed_.has_value();
    }));
    EXPECT_THAT(frames_, ElementsAre("are you there?"));
    EXPECT_GE(got.size(), reply.size() + proto::kFrameHeaderBytes - limits.output_high_water_bytes)
        << "read again before the queue was under the mark";
    EXPECT_FALSE(closed_.has_value());
}

}  // namespace
}  // namespace gs::net
