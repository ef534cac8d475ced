#include "shared/net/event_loop.hpp"

#include "shared/log.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace gs::net {
namespace {

constexpr WatchId kWakeId = 0;  // epoll data for the eventfd; watch ids start at 1
constexpr int kMaxEventsPerWait = 256;

std::uint32_t epoll_bits(Interest interest) {
    std::uint32_t bits = 0;
    if (wants_read(interest)) bits |= EPOLLIN | EPOLLRDHUP;
    if (wants_write(interest)) bits |= EPOLLOUT;
    return bits;
}

class SystemTime final : public TimeSource {
public:
    Clock::time_point now() const override { return Clock::now(); }
    WallClock::time_point wall_now() const override { return WallClock::now(); }
    bool moves_by_itself() const override { return true; }
};

}  // namespace

TimeSource& TimeSource::system() {
    static SystemTime time;
    return time;
}

EventLoop::EventLoop(TimeSource& time)
    : time_(time),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!epoll_.valid() || !wake_.valid()) {
        throw std::runtime_error(std::string("cannot create event loop: ") + std::strerror(errno));
    }
    update_epoll(EPOLL_CTL_ADD, wake_.get(), kWakeId, Interest::Read);
}

EventLoop::~EventLoop() = default;

void EventLoop::update_epoll(int op, int fd, WatchId id, Interest interest) {
    epoll_event ev{};
    ev.events = epoll_bits(interest);
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_.get(), op, fd, &ev) != 0) {
        // Only a bug can get here (a closed fd, a double add): stop loudly.
        log::error("epoll_ctl(op={}, fd={}) failed: {}", op, fd, std::strerror(errno));
        std::abort();
    }
}

WatchId EventLoop::watch(int fd, Interest interest, Handler handler) {
    WatchId id = next_watch_++;
    update_epoll(EPOLL_CTL_ADD, fd, id, interest);
    watches_.emplace(id, std::make_unique<Watch>(Watch{fd, interest, std::move(handler)}));
    return id;
}

WatchId EventLoop::try_watch(int fd, Interest interest, Handler handler) {
    epoll_event ev{};
    ev.events = epoll_bits(interest);
    ev.data.u64 = next_watch_;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (errno == EPERM) return 0;
        log::error("epoll_ctl(add, fd={}) failed: {}", fd, std::strerror(errno));
        std::abort();
    }
    WatchId id = next_watch_++;
    watches_.emplace(id, std::make_unique<Watch>(Watch{fd, interest, std::move(handler)}));
    return id;
}

void EventLoop::set_interest(WatchId id, Interest interest) {
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second->interest == interest) return;
    it->second->interest = interest;
    update_epoll(EPOLL_CTL_MOD, it->second->fd, id, interest);
}

void EventLoop::unwatch(WatchId id) {
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    epoll_event ev{};
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd, &ev);
    graveyard_.push_back(std::move(it->second));
    watches_.erase(it);
}

TimerId EventLoop::after(Clock::duration delay, Task task) {
    TimerId id = next_timer_++;
    auto deadline = time_.now() + delay;
    timers_.emplace(std::make_pair(deadline, id), std::move(task));
    timer_deadlines_.emplace(id, deadline);
    return id;
}

void EventLoop::cancel(TimerId id) {
    auto it = timer_deadlines_.find(id);
    if (it == timer_deadlines_.end()) return;
    timers_.erase({it->second, id});
    timer_deadlines_.erase(it);
}

std::optional<Clock::time_point> EventLoop::next_deadline() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first.first;
}

void EventLoop::post(Task task) {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(task));
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void EventLoop::defer(Task task) {
    deferred_.push_back(std::move(task));
}

void EventLoop::stop() {
    running_ = false;
}

int EventLoop::timeout_ms() const {
    if (!deferred_.empty()) return 0;
    if (timers_.empty()) return -1;
    auto wait = timers_.begin()->first.first - time_.now();
    if (wait <= Clock::duration::zero()) return 0;
    if (!time_.moves_by_itself()) return -1;  // waiting would not bring the deadline closer
    // Round up so we never wake just before a deadline and spin.
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
}

bool EventLoop::run_timers() {
    bool ran = false;
    while (!timers_.empty() && timers_.begin()->first.first <= time_.now()) {
        auto node = timers_.extract(timers_.begin());
        timer_deadlines_.erase(node.key().second);
        node.mapped()();
        ran = true;
    }
    return ran;
}

void EventLoop::run_posted() {
    std::uint64_t count = 0;
    [[maybe_unused]] auto n = ::read(wake_.get(), &count, sizeof count);
    std::vector<Task> tasks;
    {
        std::lock_guard lock(posted_mutex_);
        tasks.swap(posted_);
    }
    for (auto& task : tasks) task();
}

bool EventLoop::turn(int max_wait_ms) {
    epoll_event events[kMaxEventsPerWait];
    int timeout = timeout_ms();
    if (timeout < 0 || (max_wait_ms >= 0 && max_wait_ms < timeout)) timeout = max_wait_ms;
    int n = ::epoll_wait(epoll_.get(), events, kMaxEventsPerWait, timeout);
    if (n < 0) {
        if (errno == EINTR) return false;
        throw std::runtime_error(std::string("epoll_wait failed: ") + std::strerror(errno));
    }
    for (int i = 0; i < n; ++i) {
        WatchId id = events[i].data.u64;
        if (id == kWakeId) {
            run_posted();
            continue;
        }
        auto it = watches_.find(id);
        if (it == watches_.end()) continue;  // removed earlier in this batch
        std::uint32_t bits = events[i].events;
        Ready ready;
        ready.readable = (bits & (EPOLLIN | EPOLLRDHUP)) != 0;
        ready.writable = (bits & EPOLLOUT) != 0;
        ready.hangup = (bits & (EPOLLHUP | EPOLLERR)) != 0;
        it->second->handler(ready);
    }
    bool ran = run_timers() || n > 0;
    while (!deferred_.empty()) {
        auto tasks = std::move(deferred_);
        deferred_.clear();
        for (auto& task : tasks) task();
        ran = true;
    }
    graveyard_.clear();
    return ran;
}

bool EventLoop::run_once(Clock::duration max_wait) {
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(max_wait).count();
    return turn(static_cast<int>(std::max<decltype(wait)>(wait, 0)));
}

void EventLoop::run() {
    running_ = true;
    while (running_) turn(-1);
}

}  // namespace gs::net
