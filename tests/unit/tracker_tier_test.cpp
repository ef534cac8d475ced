// TrackerTier: the order the client tries its trackers in, when it moves on and when it pauses
// (docs/protocol.md §1.2).
#include "peer/tracker_tier.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

namespace gs::peer {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr TrackerTier::Backoff kBackoff{milliseconds(100), milliseconds(1000)};

// The trackers on_failure names one after the other, `n` times, and their delays.
struct Walk {
    std::vector<std::size_t> trackers;
    std::vector<milliseconds> delays;
};
Walk fail_times(TrackerTier& tier, int n) {
    Walk w;
    for (int i = 0; i < n; ++i) {
        auto next = tier.on_failure();
        EXPECT_TRUE(next.has_value());
        if (!next) break;
        EXPECT_EQ(next->tracker, tier.current());
        w.trackers.push_back(next->tracker);
        w.delays.push_back(next->delay);
    }
    return w;
}

TEST(TrackerTierTest, TheOrderIsAShuffleOfEveryTrackerThatTheSeedDecides) {
    TrackerTier a(5, 7);
    EXPECT_THAT(a.order(), UnorderedElementsAre(0u, 1u, 2u, 3u, 4u));
    EXPECT_EQ(a.current(), a.order().front());
    EXPECT_EQ(TrackerTier(5, 7).order(), a.order());

    std::set<std::vector<std::size_t>> orders;
    std::set<std::size_t> firsts;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
        TrackerTier t(5, seed);
        orders.insert(t.order());
        firsts.insert(t.current());
    }
    EXPECT_GT(orders.size(), 10u) << "the seed hardly changes the order";
    EXPECT_EQ(firsts.size(), 5u) << "some tracker is never tried first";
}

TEST(TrackerTierTest, WithoutASeedTheOrderIsTheFilesOrder) {
    TrackerTier tier(4, std::nullopt);
    EXPECT_THAT(tier.order(), ElementsAre(0u, 1u, 2u, 3u));
    EXPECT_EQ(tier.current(), 0u);
    EXPECT_EQ(tier.on_failure()->tracker, 1u);
}

TEST(TrackerTierTest, AFailureMovesToTheNextAtOnceAndAWholeFailedRoundPauses) {
    TrackerTier tier(3, 1, kBackoff);
    const auto order = tier.order();
    // Within the round: the next tracker at once.
    Walk round = fail_times(tier, 3);
    EXPECT_THAT(round.trackers, ElementsAre(order[1], order[2], order[0]));
    EXPECT_THAT(round.delays, ElementsAre(milliseconds(0), milliseconds(0), milliseconds(100)));
    // Each further failed round pauses twice as long, up to the cap.
    std::vector<milliseconds> pauses;
    for (int r = 0; r < 5; ++r) pauses.push_back(fail_times(tier, 3).delays.back());
    EXPECT_THAT(pauses, ElementsAre(milliseconds(200), milliseconds(400), milliseconds(800),
                                    milliseconds(1000), milliseconds(1000)));
}

TEST(TrackerTierTest, ItStaysWithATrackerThatWorksAndTriesTheOthersFirstWhenItFails) {
    TrackerTier tier(3, 2, kBackoff);
    const auto order = tier.order();
    fail_times(tier, 1);
    tier.on_success();
    EXPECT_EQ(tier.current(), order[1]);
    tier.on_success();
    EXPECT_EQ(tier.current(), order[1]) << "a tracker that works is kept";

    // Its link drops: the two others first, without a pause; itself last.
    Walk after_drop = fail_times(tier, 3);
    EXPECT_THAT(after_drop.trackers, ElementsAre(order[2], order[0], order[1]));
    EXPECT_THAT(after_drop.delays,
                ElementsAre(milliseconds(0), milliseconds(0), milliseconds(100)));
}

TEST(TrackerTierTest, SuccessStartsANewRoundAndResetsTheBackoff) {
    TrackerTier tier(2, 3, kBackoff);
    for (int r = 0; r < 4; ++r) fail_times(tier, 2);  // pauses 100, 200, 400, 800
    tier.on_success();
    Walk w = fail_times(tier, 2);
    EXPECT_THAT(w.delays, ElementsAre(milliseconds(0), milliseconds(100)));
}

TEST(TrackerTierTest, WithOneTrackerEveryFailureIsAFailedRound) {
    TrackerTier tier(1, 4, kBackoff);
    Walk w = fail_times(tier, 3);
    EXPECT_THAT(w.trackers, ElementsAre(0u, 0u, 0u));
    EXPECT_THAT(w.delays, ElementsAre(milliseconds(100), milliseconds(200), milliseconds(400)));
    tier.on_success();
    auto next = tier.on_failure();
    ASSERT_TRUE(next.has_value());
    EXPECT_TRUE(next->round_failed);
    EXPECT_EQ(next->delay, milliseconds(100));
}

TEST(TrackerTierTest, ATrackerLeftOutIsNeverTriedAgainNorCountedAgainstTheRound) {
    TrackerTier tier(3, 5, kBackoff);
    const auto order = tier.order();
    auto next = tier.leave_out();  // the first one's key did not match
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->tracker, order[1]);
    EXPECT_EQ(next->delay, milliseconds(0));
    EXPECT_EQ(tier.usable(), 2u);
    Walk w = fail_times(tier, 4);
    EXPECT_THAT(w.trackers, ElementsAre(order[2], order[1], order[2], order[1]));
    EXPECT_THAT(w.delays, ElementsAre(milliseconds(0), milliseconds(100), milliseconds(0),
                                      milliseconds(200)));

    EXPECT_TRUE(tier.leave_out().has_value());  // order[1]
    EXPECT_EQ(tier.current(), order[2]);
    EXPECT_FALSE(tier.leave_out().has_value()) << "none is left to try";
    EXPECT_EQ(tier.usable(), 0u);
}

}  // namespace
}  // namespace gs::peer
