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

void LoginThrottle::on_success(const std::string& user) {
    entries_.erase(user);
}

double AddressRate::refilled(const Bucket& b, Clock::time_point now) const {
    double seconds = std::chrono::duration<double>(now - b.updated).count();
    return std::min(burst_, b.tokens + std::max(0.0, seconds) * per_second_);
}

AddressRate::Clock::duration AddressRate::take(const std::string& address, Clock::time_point now) {
    auto it = buckets_.find(address);
    if (it == buckets_.end()) {
        if (buckets_.size() >= kMaxTracked) {
            // Forget full buckets: a new one starts full anyway.
            std::erase_if(buckets_,
                          [&](const auto& kv) { return refilled(kv.second, now) >= burst_; });
        }
        it = buckets_.emplace(address, Bucket{burst_, now}).first;
    }
    Bucket& b = it->second;
    b.tokens = refilled(b, now);
    b.updated = now;
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        return Clock::duration::zero();
    }
    if (per_second_ <= 0) return std::chrono::hours(1);
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>((1.0 - b.tokens) / per_second_));
}

}  // namespace gs::tracker
