#include "tracker/login_throttle.hpp"

#include <algorithm>

namespace gs::tracker {

LoginThrottle::Clock::duration LoginThrottle::wait_before_attempt(const std::string& user,
                                                                  Clock::time_point now) const {
    auto it = entries_.find(user);
    if (it == entries_.end() || it->second.next_allowed <= now) return Clock::duration::zero();
    return it->second.next_allowed - now;
}

void LoginThrottle::on_attempt(const std::string& user, Clock::time_point now) {
    if (entries_.size() >= kMaxTracked && entries_.find(user) == entries_.end()) {
        // Forget entries whose delay has passed; they would allow an attempt anyway.
        std::erase_if(entries_, [&](const auto& kv) { return kv.second.next_allowed <= now; });
    }
    Entry& e = entries_[user];
    ++e.failures;
    delay_next(e, now);
}

void LoginThrottle::on_failure(const std::string& user, Clock::time_point now) {
    auto it = entries_.find(user);
    if (it != entries_.end()) delay_next(it->second, now);
}

void LoginThrottle::delay_next(Entry& e, Clock::time_point now) {
    if (e.failures < kFreeFailures) return;
    int doublings = std::min(e.failures - kFreeFailures, 6);
    auto delay = std::min<Clock::duration>(kBaseDelay * (1 << doublings), kMaxDelay);
    e.next_allowed = std::max(e.next_allowed, now + delay);
}

void LoginThrottle::on_success(const std::string& user) { entries_.erase(user); }

}  // namespace gs::tracker
