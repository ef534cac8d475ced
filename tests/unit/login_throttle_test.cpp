// LoginThrottle (tracker/login_throttle.hpp): free attempts up to the threshold, then a delay
// that doubles per failure up to the cap, counted per user id. Time is passed in.
#include "tracker/login_throttle.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gs::tracker {
namespace {

using namespace std::chrono_literals;
using Clock = LoginThrottle::Clock;

const Clock::time_point kT0 = Clock::time_point{} + 1000h;

// `n` attempts by `user` at `at`, each answered as failed at once.
void fail(LoginThrottle& t, const std::string& user, int n, Clock::time_point at = kT0) {
    for (int i = 0; i < n; ++i) {
        t.on_attempt(user, at);
        t.on_failure(user, at);
    }
}

TEST(LoginThrottle, AttemptsBelowTheThresholdNeverWait) {
    LoginThrottle t;
    EXPECT_EQ(t.wait_before_attempt("alice", kT0), Clock::duration::zero());
    for (int i = 1; i < LoginThrottle::kFreeFailures; ++i) {
        fail(t, "alice", 1);
        EXPECT_EQ(t.wait_before_attempt("alice", kT0), Clock::duration::zero())
            << "after " << i << " failure(s)";
    }
}

TEST(LoginThrottle, FailureAtTheThresholdMakesTheNextAttemptWaitTheBaseDelay) {
    LoginThrottle t;
    fail(t, "alice", LoginThrottle::kFreeFailures);
    EXPECT_EQ(t.wait_before_attempt("alice", kT0), LoginThrottle::kBaseDelay);
    // The delay ends exactly at its bound: one tick before it still waits, at it there is none.
    EXPECT_EQ(t.wait_before_attempt("alice", kT0 + LoginThrottle::kBaseDelay - 1ns), 1ns);
    EXPECT_EQ(t.wait_before_attempt("alice", kT0 + LoginThrottle::kBaseDelay),
              Clock::duration::zero());
}

TEST(LoginThrottle, EachFailurePastTheThresholdDoublesTheDelayUpToTheCap) {
    LoginThrottle t;
    fail(t, "alice", LoginThrottle::kFreeFailures);
    Clock::time_point now = kT0;
    Clock::duration expected = LoginThrottle::kBaseDelay;
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(t.wait_before_attempt("alice", now), expected) << "failure " << i + 4;
        now += expected;  // waits it out, then fails again
        fail(t, "alice", 1, now);
        expected = std::min<Clock::duration>(expected * 2, LoginThrottle::kMaxDelay);
    }
    EXPECT_EQ(t.wait_before_attempt("alice", now), LoginThrottle::kMaxDelay);
}

// Attempts sent all at once, before any result is known, count as soon as they go ahead.
TEST(LoginThrottle, AttemptsStillBeingCheckedCountTowardsTheThreshold) {
    LoginThrottle t;
    for (int i = 0; i < LoginThrottle::kFreeFailures; ++i) {
        ASSERT_EQ(t.wait_before_attempt("alice", kT0), Clock::duration::zero());
        t.on_attempt("alice", kT0);  // no result yet
    }
    EXPECT_EQ(t.wait_before_attempt("alice", kT0), LoginThrottle::kBaseDelay);
}

// A check that takes long (a loaded tracker) does not use up the delay its failure earns.
TEST(LoginThrottle, TheDelayRunsFromTheFailedAnswer) {
    LoginThrottle t;
    fail(t, "alice", LoginThrottle::kFreeFailures - 1);
    t.on_attempt("alice", kT0);
    t.on_failure("alice", kT0 + 5s);
    EXPECT_EQ(t.wait_before_attempt("alice", kT0 + 5s), LoginThrottle::kBaseDelay);
}

TEST(LoginThrottle, SuccessForgetsTheFailures) {
    LoginThrottle t;
    fail(t, "alice", LoginThrottle::kFreeFailures - 1);
    t.on_attempt("alice", kT0);  // the right password, this time
    t.on_success("alice");
    EXPECT_EQ(t.wait_before_attempt("alice", kT0), Clock::duration::zero());
    // The count starts again from zero.
    fail(t, "alice", LoginThrottle::kFreeFailures - 1);
    EXPECT_EQ(t.wait_before_attempt("alice", kT0), Clock::duration::zero());
}

TEST(LoginThrottle, IsCountedPerUserId) {
    LoginThrottle t;
    fail(t, "alice", LoginThrottle::kFreeFailures + 2);
    EXPECT_GT(t.wait_before_attempt("alice", kT0), Clock::duration::zero());
    EXPECT_EQ(t.wait_before_attempt("bob", kT0), Clock::duration::zero());
    EXPECT_EQ(t.wait_before_attempt("Alice", kT0), Clock::duration::zero());
}

// The table is bounded (kMaxTracked): when full, it makes room by forgetting users who may try
// again anyway, never one who must still wait.
TEST(LoginThrottle, AFullTableKeepsUsersWhoMustStillWait) {
    LoginThrottle t;
    fail(t, "throttled", LoginThrottle::kFreeFailures + 6);  // waits kMaxDelay
    for (std::size_t i = 1; i < LoginThrottle::kMaxTracked; ++i) {
        fail(t, "u" + std::to_string(i), 1);  // one failure each: no delay
    }
    fail(t, "newcomer", 1, kT0 + 1s);
    EXPECT_EQ(t.wait_before_attempt("throttled", kT0 + 1s), LoginThrottle::kMaxDelay - 1s);
}

// AddressRate: the per-address token bucket for login and create_user.

TEST(AddressRate, AnAddressGetsItsBurstAtOnceAndTheNextWaitsForTheRate) {
    AddressRate rate(4, 2);  // 4 at once, then 2 a second
    for (int i = 1; i <= 4; ++i) {
        EXPECT_EQ(rate.take("10.0.0.1", kT0), Clock::duration::zero()) << "request " << i;
    }
    // Past the burst: half a second to the next token at 2 a second.
    EXPECT_EQ(rate.take("10.0.0.1", kT0), std::chrono::duration_cast<Clock::duration>(500ms));
    // A refused request takes nothing: the token comes at its time, not later.
    EXPECT_GT(rate.take("10.0.0.1", kT0 + 499ms), Clock::duration::zero());
    EXPECT_EQ(rate.take("10.0.0.1", kT0 + 500ms), Clock::duration::zero());
    EXPECT_GT(rate.take("10.0.0.1", kT0 + 500ms), Clock::duration::zero());
    // Other addresses have their own bucket.
    EXPECT_EQ(rate.take("10.0.0.2", kT0 + 500ms), Clock::duration::zero());
}

TEST(AddressRate, AQuietAddressRefillsUpToTheBurstAndNoMore) {
    AddressRate rate(3, 1);
    for (int i = 0; i < 3; ++i) rate.take("a", kT0);
    // An hour later: a full burst again, but not 3600 tokens.
    const auto later = kT0 + 1h;
    for (int i = 1; i <= 3; ++i) {
        EXPECT_EQ(rate.take("a", later), Clock::duration::zero()) << "request " << i;
    }
    EXPECT_EQ(rate.take("a", later), std::chrono::duration_cast<Clock::duration>(1s));
}

}  // namespace
}  // namespace gs::tracker
