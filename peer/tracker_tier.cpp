#include "peer/tracker_tier.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>
#include <random>

namespace gs::peer {

TrackerTier::TrackerTier(std::size_t size, std::optional<std::uint64_t> seed)
    : TrackerTier(size, seed, Backoff{}) {}

TrackerTier::TrackerTier(std::size_t size, std::optional<std::uint64_t> seed, Backoff backoff)
    : order_(size),
      left_out_(size, false),
      usable_(size),
      backoff_(backoff),
      next_delay_(backoff.first) {
    assert(size > 0);
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (!seed) return;
    std::mt19937_64 rng(*seed);
    std::shuffle(order_.begin(), order_.end(), rng);
}

void TrackerTier::on_success() {
    failures_ = 0;
    next_delay_ = backoff_.first;
}

std::optional<TrackerTier::Next> TrackerTier::on_failure() {
    ++failures_;
    return advance();
}

std::optional<TrackerTier::Next> TrackerTier::leave_out() {
    if (!left_out_[position_]) {
        left_out_[position_] = true;
        --usable_;
    }
    return advance();
}

std::optional<TrackerTier::Next> TrackerTier::advance() {
    if (usable_ == 0) return std::nullopt;
    do {
        position_ = (position_ + 1) % order_.size();
    } while (left_out_[position_]);
    Next next{current(), std::chrono::milliseconds(0), false};
    if (failures_ >= usable_) {
        failures_ = 0;
        next.delay = next_delay_;
        next.round_failed = true;
        next_delay_ = std::min(next_delay_ * 2, backoff_.cap);
    }
    return next;
}

}  // namespace gs::peer
