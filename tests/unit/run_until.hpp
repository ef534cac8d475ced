// run_until: drives an EventLoop in a unit test until a condition holds, checking it every
// millisecond, with a deadline so a broken test fails instead of hanging; run_for: for a while.
#pragma once

#include "shared/net/event_loop.hpp"

#include <chrono>
#include <functional>

namespace gs::test_support {

// Runs `loop` until `done` holds; false after `timeout`.
inline bool run_until(net::EventLoop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    using namespace std::chrono_literals;
    bool timed_out = false;
    net::TimerId deadline = loop.after(timeout, [&] {
        timed_out = true;
        loop.stop();
    });
    net::TimerId tick = 0;
    std::function<void()> check = [&] {
        tick = 0;
        if (done()) {
            loop.stop();
            return;
        }
        tick = loop.after(1ms, check);
    };
    tick = loop.after(0ms, check);
    loop.run();
    loop.cancel(deadline);
    loop.cancel(tick);
    return !timed_out;
}

// Runs `loop` for `duration` (timers and sockets are served meanwhile).
inline void run_for(net::EventLoop& loop, std::chrono::milliseconds duration) {
    run_until(loop, [] { return false; }, duration);
}

}  // namespace gs::test_support
