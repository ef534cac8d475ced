// The reactor's promises (shared/net/event_loop.hpp, docs/ARCHITECTURE.md): watch ids are never
// reused, so an event for an fd unwatched earlier in its batch is skipped; a handler may unwatch
// any fd, its own included; deferred tasks run after the batch, in order; timers run in
// deadline order (ties in the order they were made) and not before their deadline on the loop's
// clock; a cancelled one never runs. Pipes in a loop on a ManualClock. (Connection's promises on
// top of it, writing first and the output high-water mark, are in connection_test.cpp.)
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "tests/unit/run_until.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gs::net {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

struct Pipe {
    Fd read_end;
    Fd write_end;

    Pipe() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        read_end = Fd(fds[0]);
        write_end = Fd(fds[1]);
    }
    // Makes the read end readable, and not.
    void fill() { ASSERT_EQ(::write(write_end.get(), "x", 1), 1); }
    void drain() {
        char c;
        while (::read(read_end.get(), &c, 1) > 0) {
        }
    }
};

class EventLoopTest : public test_support::LoopTest {
protected:
    bool turn() { return loop_.run_once(Clock::duration::zero()); }

    std::vector<std::string> ran_;
};

// ---- watches ----

TEST_F(EventLoopTest, AHandlerThatUnwatchesAnotherReadyFdInTheSameBatchStopsItsHandler) {
    Pipe a, b;
    WatchId id_a = 0, id_b = 0;
    id_a = loop_.watch(a.read_end.get(), Interest::Read, [&](Ready) {
        ran_.push_back("a");
        loop_.unwatch(id_b);
    });
    id_b = loop_.watch(b.read_end.get(), Interest::Read, [&](Ready) {
        ran_.push_back("b");
        loop_.unwatch(id_a);
    });
    a.fill();
    b.fill();
    EXPECT_TRUE(turn());
    // Both were ready in one batch; whichever ran first removed the other.
    ASSERT_EQ(ran_.size(), 1u);
    // With the one that ran unwatched too, nothing runs though both pipes stay readable.
    const std::string first = ran_.front();
    loop_.unwatch(first == "a" ? id_a : id_b);
    EXPECT_FALSE(turn());
    EXPECT_EQ(ran_.size(), 1u);
}

TEST_F(EventLoopTest, AHandlerMayUnwatchItselfAndItsCapturesLiveUntilItReturns) {
    Pipe a;
    WatchId id = 0;
    auto text = std::make_shared<std::string>("still here");
    id = loop_.watch(a.read_end.get(), Interest::Read, [&, text](Ready) {
        loop_.unwatch(id);
        ran_.push_back(*text);  // the handler object (and `text`) must survive its unwatch
    });
    text.reset();
    a.fill();
    EXPECT_TRUE(turn());
    EXPECT_THAT(ran_, ElementsAre("still here"));
    EXPECT_FALSE(turn()) << "unwatched, though still readable";
}

// The fd number of an fd closed in a batch is reused at once by the next one opened; the event
// queued for the old watch must not reach the new one.
TEST_F(EventLoopTest, AStaleWatchIdIsSkippedEvenWhenItsFdNumberIsReusedInTheSameBatch) {
    std::unique_ptr<Pipe> pipes[2] = {std::make_unique<Pipe>(), std::make_unique<Pipe>()};
    WatchId ids[2] = {0, 0};
    std::unique_ptr<Pipe> fresh;
    WatchId fresh_id = 0;
    int reused_fd = -1;
    for (int me = 0; me < 2; ++me) {
        ids[me] = loop_.watch(pipes[me]->read_end.get(), Interest::Read, [&, me](Ready) {
            ran_.push_back(std::to_string(me));
            pipes[me]->drain();
            if (fresh) return;
            // The first handler of the batch closes the other pipe and opens one in its place.
            const int other = 1 - me;
            loop_.unwatch(ids[other]);
            reused_fd = pipes[other]->read_end.get();
            pipes[other].reset();
            fresh = std::make_unique<Pipe>();
            fresh_id = loop_.watch(fresh->read_end.get(), Interest::Read, [&](Ready) {
                ran_.push_back("fresh");
                fresh->drain();
            });
        });
    }
    pipes[0]->fill();
    pipes[1]->fill();
    EXPECT_TRUE(turn());
    ASSERT_EQ(ran_.size(), 1u) << "the removed watch's event was delivered";
    EXPECT_EQ(fresh->read_end.get(), reused_fd) << "the fd number was not reused";
    EXPECT_NE(fresh_id, ids[0]);
    EXPECT_NE(fresh_id, ids[1]);
    // The fresh pipe is not readable, so its handler has not run; it runs once it is.
    EXPECT_FALSE(turn());
    fresh->fill();
    EXPECT_TRUE(turn());
    EXPECT_EQ(ran_.back(), "fresh");
    // Changing or removing the stale id does nothing to the new watch on its fd number.
    const int gone = ran_.front() == "0" ? 1 : 0;
    loop_.set_interest(ids[gone], Interest::None);
    loop_.unwatch(ids[gone]);
    ran_.clear();
    fresh->fill();
    pipes[1 - gone]->fill();
    EXPECT_TRUE(turn());
    EXPECT_THAT(ran_, UnorderedElementsAre("fresh", std::to_string(1 - gone)));
    loop_.unwatch(fresh_id);
    loop_.unwatch(ids[1 - gone]);
}

// ---- deferred and posted tasks ----

TEST_F(EventLoopTest, DeferredTasksRunAfterTheWholeBatchInTheOrderTheyWereDeferred) {
    Pipe a, b;
    auto handler = [&](std::string name) {
        return [&, name](Ready) {
            ran_.push_back(name);
            loop_.defer([&, name] {
                ran_.push_back("deferred by " + name);
                // Deferred from a deferred task: still in this turn, after the others.
                loop_.defer([&, name] { ran_.push_back("then " + name); });
            });
        };
    };
    WatchId id_a = loop_.watch(a.read_end.get(), Interest::Read, handler("a"));
    WatchId id_b = loop_.watch(b.read_end.get(), Interest::Read, handler("b"));
    a.fill();
    b.fill();
    EXPECT_TRUE(turn());
    ASSERT_EQ(ran_.size(), 6u);
    const std::string x = ran_[0], y = ran_[1];
    EXPECT_THAT(
        ran_, ElementsAre(x, y, "deferred by " + x, "deferred by " + y, "then " + x, "then " + y));
    loop_.unwatch(id_a);
    loop_.unwatch(id_b);
}

TEST_F(EventLoopTest, DeferredTasksRunAfterTheTimersOfTheirTurn) {
    loop_.after(0ms, [&] {
        ran_.push_back("timer 1");
        loop_.defer([&] { ran_.push_back("deferred"); });
    });
    loop_.after(0ms, [&] { ran_.push_back("timer 2"); });
    EXPECT_TRUE(turn());
    EXPECT_THAT(ran_, ElementsAre("timer 1", "timer 2", "deferred"));
}

TEST_F(EventLoopTest, TasksPostedFromAnotherThreadRunOnTheLoopInOrder) {
    std::thread poster([&] {
        for (int i = 0; i < 3; ++i) loop_.post([&, i] { ran_.push_back(std::to_string(i)); });
    });
    poster.join();
    ASSERT_TRUE(run_until([&] { return ran_.size() == 3; }));
    EXPECT_THAT(ran_, ElementsAre("0", "1", "2"));
}

// ---- timers ----

TEST_F(EventLoopTest, TimersRunInDeadlineOrderAndTiesInTheOrderTheyWereMade) {
    loop_.after(30ms, [&] { ran_.push_back("30 ms"); });
    loop_.after(10ms, [&] { ran_.push_back("10 ms, first"); });
    loop_.after(20ms, [&] { ran_.push_back("20 ms"); });
    loop_.after(10ms, [&] { ran_.push_back("10 ms, second"); });
    clock_.advance(1h);  // all due in one turn
    EXPECT_TRUE(turn());
    EXPECT_THAT(ran_, ElementsAre("10 ms, first", "10 ms, second", "20 ms", "30 ms"));
}

TEST_F(EventLoopTest, ATimerRunsAtItsDeadlineOnTheLoopsClockAndNotBefore) {
    const auto t0 = clock_.now();
    std::optional<Clock::time_point> fired_at;
    loop_.after(10ms, [&] { fired_at = loop_.now(); });
    EXPECT_EQ(loop_.next_deadline(), t0 + 10ms);
    // A manual clock does not move while the loop waits: the timer is never due by itself.
    EXPECT_FALSE(loop_.run_once(1ms));
    clock_.advance(10ms - 1ns);
    EXPECT_FALSE(turn());
    EXPECT_FALSE(fired_at.has_value());
    clock_.advance(1ns);
    EXPECT_TRUE(turn());
    EXPECT_EQ(fired_at, t0 + 10ms);
    EXPECT_EQ(loop_.next_deadline(), std::nullopt);
}

TEST_F(EventLoopTest, AdvanceRunsEachTimerWithTheClockAtItsOwnDeadline) {
    const auto t0 = clock_.now();
    std::vector<Clock::duration> at;
    std::function<void()> every_10ms = [&] {
        at.push_back(loop_.now() - t0);
        if (at.size() < 3) loop_.after(10ms, every_10ms);
    };
    loop_.after(10ms, every_10ms);
    advance(1h);
    EXPECT_THAT(at, ElementsAre(10ms, 20ms, 30ms));
    EXPECT_EQ(clock_.now(), t0 + 1h);
}

TEST_F(EventLoopTest, ACancelledTimerNeverRunsAndCancellingTwiceOrLateIsHarmless) {
    TimerId doomed = loop_.after(10ms, [&] { ran_.push_back("doomed"); });
    TimerId done = loop_.after(5ms, [&] { ran_.push_back("done"); });
    // A timer cancelled by another that is due in the same turn does not run either.
    TimerId victim = 0;
    loop_.after(20ms, [&] {
        ran_.push_back("canceller");
        loop_.cancel(victim);
    });
    victim = loop_.after(20ms, [&] { ran_.push_back("victim"); });
    loop_.cancel(doomed);
    loop_.cancel(doomed);
    clock_.advance(1h);
    EXPECT_TRUE(turn());
    loop_.cancel(done);   // already ran
    loop_.cancel(12345);  // never existed
    EXPECT_THAT(ran_, ElementsAre("done", "canceller"));
    EXPECT_EQ(loop_.next_deadline(), std::nullopt);
}

}  // namespace
}  // namespace gs::net
