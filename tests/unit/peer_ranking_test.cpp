// PeerRanking (peer/download/peer_ranking.hpp): the policy that drops a peer far slower than the
// good ones, each bound at, below and past it: the rate factor (slow_factor) and the time it
// must stay slow (slow_for); and which peers count as fast. Pure: the test passes the time.
#include "peer/download/peer_ranking.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace gs::peer {
namespace {

using namespace std::chrono_literals;

constexpr RankingLimits kLimits{.tick = 1s, .slow_factor = 8, .slow_for = 3s};
const net::Clock::time_point kT0{};

PeerId peer(std::uint32_t n) {
    return PeerId{n};
}

std::vector<std::uint32_t> ids(const std::vector<PeerRanking::Outlier>& outliers) {
    std::vector<std::uint32_t> out;
    for (const auto& o : outliers) out.push_back(o.peer.value);
    return out;
}

// One tick of one second: each peer delivered its bytes, with requests outstanding.
void tick(PeerRanking& r, const std::vector<std::uint64_t>& bytes) {
    for (std::uint32_t i = 0; i < bytes.size(); ++i) r.sample(peer(i), bytes[i], 1.0, true);
}

TEST(PeerRanking, DropsAPeerUnderAnEighthOfTheGoodMedianOnlyOnceSlowForTheWholeTime) {
    PeerRanking r(kLimits);
    // Peers 0-2 good (median 8000 B/s); 3 exactly at an eighth of it; 4 just under; 5 nothing.
    const std::vector<std::uint64_t> bytes{8000, 8000, 9000, 1000, 999, 0};
    for (int s = 0; s <= 3; ++s) {
        tick(r, bytes);
        auto out = r.judge(kT0 + std::chrono::seconds(s));
        if (s < 3) {
            // Below slow_for: nobody yet.
            EXPECT_TRUE(out.empty()) << "after " << s << " s";
        } else {
            // At it: the two under the bound, not the one at it.
            EXPECT_EQ(ids(out), (std::vector<std::uint32_t>{4, 5}));
            EXPECT_DOUBLE_EQ(out[0].median, 8000);
            EXPECT_DOUBLE_EQ(out[0].rate, 999);
        }
    }
    EXPECT_DOUBLE_EQ(r.good_median(), 8000);
}

TEST(PeerRanking, APeerThatCatchesUpStartsAgainAndAnIdleOneIsNotJudged) {
    PeerRanking r(kLimits);
    tick(r, {80000, 0});
    r.sample(peer(2), 0, 1.0, /*busy=*/false);  // asked for nothing: not judged
    EXPECT_TRUE(r.judge(kT0).empty());
    tick(r, {80000, 0});
    r.sample(peer(2), 0, 1.0, false);
    EXPECT_TRUE(r.judge(kT0 + 2s).empty());
    // Peer 1 delivers enough to be good for a moment: its slow time starts again.
    tick(r, {80000, 80000});
    r.sample(peer(2), 0, 1.0, false);
    EXPECT_TRUE(r.judge(kT0 + 3s).empty());
    // Slow again from then on (its smoothed rate decays over a few ticks): dropped, but not
    // before slow_for has passed since the catch-up.
    int dropped_at = -1;
    for (int s = 4; s <= 20 && dropped_at < 0; ++s) {
        tick(r, {80000, 0});
        r.sample(peer(2), 0, 1.0, false);
        if (!r.judge(kT0 + std::chrono::seconds(s)).empty()) dropped_at = s;
    }
    EXPECT_GE(dropped_at, 3 + 3);
    EXPECT_EQ(ids(r.judge(kT0 + std::chrono::seconds(dropped_at))),
              (std::vector<std::uint32_t>{1}));
    EXPECT_FALSE(r.is_fast(peer(2)));
}

TEST(PeerRanking, NobodyIsSlowBeforeAnyoneDeliveredAndFastMeansWithinTheFactorOfTheBest) {
    PeerRanking r(kLimits);
    tick(r, {0, 0, 0});
    EXPECT_TRUE(r.judge(kT0).empty());
    EXPECT_TRUE(r.judge(kT0 + 10s).empty()) << "nothing to compare with";
    EXPECT_FALSE(r.is_fast(peer(0)));

    PeerRanking q(kLimits);
    tick(q, {8000, 1000, 999});
    EXPECT_TRUE(q.is_fast(peer(0)));
    EXPECT_TRUE(q.is_fast(peer(1))) << "at an eighth of the best";
    EXPECT_FALSE(q.is_fast(peer(2))) << "under it";
    EXPECT_EQ(q.fastest_first(), (std::vector<PeerId>{peer(0), peer(1), peer(2)}));
    q.forget(peer(0));
    EXPECT_TRUE(q.is_fast(peer(2)));
}

}  // namespace
}  // namespace gs::peer
