// The time an EventLoop runs on. Deadlines are steady-clock points (net::Clock); what "now" is
// comes from a TimeSource handed to the loop: the machine's clocks in the programs, a
// ManualClock that only the test moves in unit tests, so a deadline test takes no real time and
// cannot be early or late by a loaded machine's slack. Wall time (ticket expiry, in Unix
// seconds) comes from the same source, so it moves with the steady time.
#pragma once

#include <chrono>
#include <cstdint>

namespace gs::net {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

class TimeSource {
public:
    virtual ~TimeSource() = default;
    virtual Clock::time_point now() const = 0;
    virtual WallClock::time_point wall_now() const = 0;
    // False for a clock that moves only when told: the loop then never waits for a timer, it
    // runs those that are due once someone has moved the clock.
    virtual bool moves_by_itself() const = 0;

    // The machine's clocks; lives for the whole program.
    static TimeSource& system();
};

// Starts at a fixed point (steady: 1000 h after the epoch; wall: 2023-11-14 22:13:20 UTC) and
// moves only by advance(), both clocks together. Not thread-safe: the loop's thread only.
class ManualClock final : public TimeSource {
public:
    static constexpr std::int64_t kStartUnixSeconds = 1'700'000'000;

    Clock::time_point now() const override { return now_; }
    WallClock::time_point wall_now() const override { return wall_start_ + (now_ - start_); }
    bool moves_by_itself() const override { return false; }

    void advance(Clock::duration by) { now_ += by; }
    // Moves to `t`; never backwards.
    void advance_to(Clock::time_point t) {
        if (t > now_) now_ = t;
    }

private:
    static constexpr Clock::time_point start_ = Clock::time_point{} + std::chrono::hours(1000);
    Clock::time_point now_ = start_;
    WallClock::time_point wall_start_ =
        WallClock::time_point{} +
        std::chrono::duration_cast<WallClock::duration>(std::chrono::seconds(kStartUnixSeconds));
};

// For end-to-end tests only (the programs' hidden --test-clock option; docs/ARCHITECTURE.md,
// habit 7): wall
// time stands still at the moment the clock was made and moves only by advance(), so a ticket
// expires when the test says; steady time runs as the machine's plus every advance, so the
// program's timers work as usual and a deadline computed from wall time falls due when the test
// moves past it. Not thread-safe: the loop's thread only.
class TestClock final : public TimeSource {
public:
    Clock::time_point now() const override { return Clock::now() + advanced_; }
    WallClock::time_point wall_now() const override {
        return wall_start_ + std::chrono::duration_cast<WallClock::duration>(advanced_);
    }
    bool moves_by_itself() const override { return true; }

    void advance(Clock::duration by) { advanced_ += by; }

private:
    WallClock::time_point wall_start_ = WallClock::now();
    Clock::duration advanced_{};
};

// Whole seconds since the Unix epoch of a wall-clock time (the unit tickets expire in).
inline std::int64_t unix_seconds(WallClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace gs::net
