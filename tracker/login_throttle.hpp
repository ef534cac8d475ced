// LoginThrottle: slows down repeated failed logins per user id, whether or not the user exists
// (so the answer reveals nothing). After kFreeFailures failures in a row, each further attempt
// must wait a delay that doubles per failure, up to kMaxDelay. An attempt counts as a failure
// from the moment it goes ahead, so logins sent all at once get no more free tries than logins
// sent one by one. Used by the Dispatcher on the reactor thread; pure, time is passed in (the
// reactor's EventLoop::now(), so tests move it by hand).
#pragma once

#include "shared/net/clock.hpp"

#include <chrono>
#include <string>
#include <unordered_map>

namespace gs::tracker {

class LoginThrottle {
public:
    using Clock = net::Clock;
    static constexpr int kFreeFailures = 3;
    static constexpr std::chrono::seconds kBaseDelay{1};
    static constexpr std::chrono::seconds kMaxDelay{60};
    static constexpr std::size_t kMaxTracked = 100000;  // memory bound under a name flood

    // Zero when an attempt may go ahead now, else how long the caller must still wait.
    Clock::duration wait_before_attempt(const std::string& user, Clock::time_point now) const;
    // An attempt goes ahead (its password is being checked): it counts as a failure from now on,
    // unless on_success() follows.
    void on_attempt(const std::string& user, Clock::time_point now);
    // That attempt failed: the delay it earned runs from now, so a slow check does not use it up.
    void on_failure(const std::string& user, Clock::time_point now);
    // The password was right: the user's failures are forgotten.
    void on_success(const std::string& user);

private:
    struct Entry {
        int failures = 0;
        Clock::time_point next_allowed{};
    };
    static void delay_next(Entry& e, Clock::time_point now);
    std::unordered_map<std::string, Entry> entries_;
};

// AddressRate: a token bucket per client address for the requests that cost a password hash or
// tell whether an id exists (login, create_user). Each address may spend `burst` at once, then
// `per_second` more each second. Pure, time is passed in (EventLoop::now()); reactor thread only.
class AddressRate {
public:
    using Clock = net::Clock;
    static constexpr std::size_t kMaxTracked = 100000;  // memory bound under an address flood

    AddressRate(double burst, double per_second) : burst_(burst), per_second_(per_second) {}

    // Zero when `address` may make one more request now (it is counted), else how long it must
    // wait for the next one (nothing is counted).
    Clock::duration take(const std::string& address, Clock::time_point now);

private:
    struct Bucket {
        double tokens = 0;
        Clock::time_point updated{};
    };
    double refilled(const Bucket& b, Clock::time_point now) const;

    double burst_;
    double per_second_;
    std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace gs::tracker
