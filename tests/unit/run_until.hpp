// Driving an EventLoop in a unit test. The loop runs on a net::ManualClock, so no timer fires
// until the test moves the clock (advance): a deadline fires exactly at its time, never early or
// late, and the test takes no real time waiting for it. In between, run_until turns the loop on
// events (sockets, pipes, tasks posted by workers) until a condition holds, and run_until_idle
// until nothing is left to do at the current time.
//
// The only real time here is the hang guard of run_until: a test whose condition never comes
// fails after kHangGuard instead of hanging. No verdict depends on it.
#pragma once

#include "shared/net/clock.hpp"
#include "shared/net/event_loop.hpp"

#include <gtest/gtest.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>

namespace gs::test_support {

using namespace std::chrono_literals;

inline constexpr std::chrono::seconds kHangGuard{20};

// Turns `loop` until `done` holds (checked before each turn, and each turn waits at most a
// millisecond for an fd, so conditions on sockets outside the loop are seen too); false if it
// still does not after kHangGuard of real time.
inline bool run_until(net::EventLoop& loop, const std::function<bool()>& done) {
    const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
    while (!done()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        loop.run_once(1ms);
    }
    return true;
}

// Turns `loop` until a turn finds nothing to run: no ready fd, posted or deferred task, or due
// timer. Work on other threads (a WorkerPool) is not waited for: use run_until for that. Gives
// up after kHangGuard of real time (an fd that stays ready and is never served).
inline void run_until_idle(net::EventLoop& loop) {
    const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
    while (loop.run_once(net::Clock::duration::zero()) &&
           std::chrono::steady_clock::now() < give_up) {
    }
}

// Moves `clock` forward by `by`, stopping at every timer deadline on the way: each timer runs
// with the clock at its own deadline, in order, and the loop is run until idle after each (so
// timers armed by the ones that ran fire too, if due within `by`).
inline void advance(net::EventLoop& loop, net::ManualClock& clock, net::Clock::duration by) {
    const auto until = clock.now() + by;
    run_until_idle(loop);
    for (auto next = loop.next_deadline(); next && *next <= until; next = loop.next_deadline()) {
        clock.advance_to(*next);
        run_until_idle(loop);
    }
    clock.advance_to(until);
    run_until_idle(loop);
}

// Turns `loop` until every byte written on the TCP socket `fd` has reached the other end's
// receive queue (none is left unacknowledged), or the connection is gone: a turn of the loop
// then sees them, so the clock is not moved before the loop could read them.
inline bool run_until_delivered(net::EventLoop& loop, int fd) {
    return run_until(loop, [fd] {
        tcp_info info{};
        socklen_t size = sizeof info;
        if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return true;
        if (info.tcpi_state != TCP_ESTABLISHED && info.tcpi_state != TCP_CLOSE_WAIT) return true;
        int unacked = 0;
        return ::ioctl(fd, SIOCOUTQ, &unacked) != 0 || unacked == 0;
    });
}

// Like advance, but stops as soon as `done` holds (checked at every step and after every timer
// that ran); false if it does not hold by `limit` past the start. For verdicts that hang on
// something outside the loop too (bytes a test sent, still on their way through the kernel).
inline bool advance_until(net::EventLoop& loop, net::ManualClock& clock,
                          const std::function<bool()>& done, net::Clock::duration limit) {
    const auto until = clock.now() + limit;
    for (;;) {
        run_until_idle(loop);
        if (done()) return true;
        auto next = loop.next_deadline();
        if (!next || *next > until) break;
        clock.advance_to(*next);
    }
    clock.advance_to(until);
    run_until_idle(loop);
    return done();
}

// A fixture whose loop runs on a ManualClock (declared first, so it outlives the loop, and as a
// base class, so both outlive everything the test declares on them).
class LoopTest : public ::testing::Test {
protected:
    bool run_until(const std::function<bool()>& done) {
        return test_support::run_until(loop_, done);
    }
    void run_until_idle() { test_support::run_until_idle(loop_); }
    void advance(net::Clock::duration by) { test_support::advance(loop_, clock_, by); }
    bool advance_until(const std::function<bool()>& done, net::Clock::duration limit) {
        return test_support::advance_until(loop_, clock_, done, limit);
    }

    net::ManualClock clock_;
    net::EventLoop loop_{clock_};
};

}  // namespace gs::test_support
