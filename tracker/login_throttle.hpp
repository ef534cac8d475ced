// LoginThrottle: slows down repeated failed logins per user id, whether or not the user exists
// (so the answer reveals nothing). After kFreeFailures failures in a row, each further attempt
// must wait a delay that doubles per failure, up to kMaxDelay. Pure; time is passed in.
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
    void on_failure(const std::string& user, Clock::time_point now);
    void on_success(const std::string& user);

private:
    struct Entry {
        int failures = 0;
        Clock::time_point next_allowed{};
    };
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace gs::tracker
