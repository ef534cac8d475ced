// TrackerTier: which tracker of tracker_info.txt the client uses, and which one next. The lines
// are one tier, as a BitTorrent client treats one tier of an announce list (docs/protocol.md
// §1.2): the order is shuffled once, the client stays with a tracker while it works, moves to the
// next one at once when it fails, and pauses (doubling from `first` up to `cap`) only after every
// tracker of a round has failed. A tracker whose key did not match its pin is left out for good.
// A plain value with no socket and no clock: the caller waits the delays it is given.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace gs::peer {

class TrackerTier {
public:
    struct Backoff {
        std::chrono::milliseconds first{100};
        std::chrono::milliseconds cap{2000};
    };
    // What to do after a failure: connect to `tracker` (an index in tracker_info.txt order)
    // after `delay`: zero inside a round, the back-off once a whole round has failed.
    struct Next {
        std::size_t tracker = 0;
        std::chrono::milliseconds delay{0};
        bool round_failed = false;
    };

    // `size` trackers (at least one), in an order shuffled with `seed`, or in file order without
    // one; pauses as `backoff` says (0.1 s doubling up to 2 s without one).
    TrackerTier(std::size_t size, std::optional<std::uint64_t> seed);
    TrackerTier(std::size_t size, std::optional<std::uint64_t> seed, Backoff backoff);

    // The tracker to use now (an index in tracker_info.txt order).
    std::size_t current() const { return order_[position_]; }
    // Every tracker once, in the order they are tried.
    const std::vector<std::size_t>& order() const { return order_; }
    // How many trackers have not been left out.
    std::size_t usable() const { return usable_; }

    // The current tracker took the session: a new round starts and the back-off is reset.
    void on_success();
    // The current tracker failed (refused, timed out, dropped the link, did not answer).
    // Nothing when every tracker has been left out.
    std::optional<Next> on_failure();
    // The current tracker presented a key other than its pin: it is never tried again. Then as
    // on_failure, without counting it against the round.
    std::optional<Next> leave_out();

private:
    std::optional<Next> advance();

    std::vector<std::size_t> order_;
    std::vector<bool> left_out_;  // by position in order_
    std::size_t position_ = 0;
    std::size_t usable_ = 0;
    std::size_t failures_ = 0;  // in the current round
    Backoff backoff_;
    std::chrono::milliseconds next_delay_;
};

}  // namespace gs::peer
