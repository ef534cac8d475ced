// EventLoop: one epoll fd, watched fds by never-reused ids, a deadline-ordered timer queue, and
// a task queue woken by an eventfd. Owned and run by one thread (the reactor); only post() may
// be called from other threads. Level-triggered. The loop owns no watched fd: the owner of an
// fd registers it and unwatches it before closing it. Time comes from the TimeSource it is given
// (shared/net/clock.hpp): everything on the reactor thread reads now() here, never the clock.
#pragma once

#include "shared/net/clock.hpp"
#include "shared/net/fd.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gs::net {

enum class Interest : std::uint8_t { None = 0, Read = 1, Write = 2, ReadWrite = 3 };

inline bool wants_read(Interest i) {
    return (static_cast<int>(i) & 1) != 0;
}
inline bool wants_write(Interest i) {
    return (static_cast<int>(i) & 2) != 0;
}

struct Ready {
    bool readable = false;
    bool writable = false;
    bool hangup = false;  // EPOLLHUP or EPOLLERR: the next read/write reports the cause
};

using WatchId = std::uint64_t;
using TimerId = std::uint64_t;

class EventLoop {
public:
    using Handler = std::function<void(Ready)>;
    using Task = std::function<void()>;

    // `time` must outlive the loop.
    explicit EventLoop(TimeSource& time = TimeSource::system());
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    WatchId watch(int fd, Interest interest, Handler handler);
    // As watch(), but returns 0 for an fd epoll cannot watch (a regular file, /dev/null).
    WatchId try_watch(int fd, Interest interest, Handler handler);
    void set_interest(WatchId id, Interest interest);
    // Safe to call from inside any handler, including the watched fd's own: a handler removed
    // earlier in a batch is skipped, and its storage lives until the batch ends.
    void unwatch(WatchId id);

    // Runs `task` once `delay` has passed on the loop's clock. Timers due at the same turn run
    // in deadline order, those with the same deadline in the order they were made.
    TimerId after(Clock::duration delay, Task task);
    // A timer that ran or was cancelled is ignored.
    void cancel(TimerId id);
    // The earliest timer's deadline, if any.
    std::optional<Clock::time_point> next_deadline() const;

    // Runs `task` on the loop thread soon. The only thread-safe member.
    void post(Task task);
    // Runs `task` after the current event batch: used to destroy connections that decided to
    // close inside their own callback.
    void defer(Task task);

    void run();   // until stop()
    void stop();  // from the loop thread
    // One turn: waits at most `max_wait` for an fd (0: only looks; never for a timer on a clock
    // that does not move by itself), then runs the ready handlers, posted tasks, the timers that
    // are due and the deferred tasks. True if anything ran.
    bool run_once(Clock::duration max_wait);

    Clock::time_point now() const { return time_.now(); }
    WallClock::time_point wall_now() const { return time_.wall_now(); }
    std::int64_t unix_now() const { return unix_seconds(time_.wall_now()); }

private:
    struct Watch {
        int fd;
        Interest interest;
        Handler handler;
    };

    void update_epoll(int op, int fd, WatchId id, Interest interest);
    // One turn that waits at most `max_wait_ms` (-1: as long as it takes).
    bool turn(int max_wait_ms);
    bool run_timers();
    void run_posted();
    int timeout_ms() const;

    TimeSource& time_;
    Fd epoll_;
    Fd wake_;  // eventfd for post()
    WatchId next_watch_ = 1;
    std::unordered_map<WatchId, std::unique_ptr<Watch>> watches_;
    std::vector<std::unique_ptr<Watch>> graveyard_;  // unwatched during the current batch

    TimerId next_timer_ = 1;
    std::map<std::pair<Clock::time_point, TimerId>, Task> timers_;
    std::unordered_map<TimerId, Clock::time_point> timer_deadlines_;

    std::mutex posted_mutex_;
    std::vector<Task> posted_;
    std::vector<Task> deferred_;

    bool running_ = false;
};

}  // namespace gs::net
