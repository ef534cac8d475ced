// LoginThrottle: slows down repeated failed logins per user id, whether or not the user exists
// (so the answer reveals nothing). After kFreeFailures failures in a row, each further attempt
// must wait a delay that doubles per failure, up to kMaxDelay. An attempt counts as a failure
// from the moment it goes ahead, so logins sent all at once get no more free tries than logins
// sent one by one. Used by the Dispatcher on the reactor thread; pure, time is passed in.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

namespace gs::tracker {

class LoginThrottle {
public:
    using Clock = std::chrono::steady_clock;
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

}  // namespace gs::tracker
