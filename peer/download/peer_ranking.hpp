// PeerRanking: the rate each peer of one download delivers, sampled on a steady tick, and the
// verdicts drawn from it: which peers are fast (they get the last blocks in the endgame whoever
// else was asked) and which are outliers to drop (far slower than the good peers for a while).
// Pure: no sockets and no clock of its own (the caller passes the time). Owned by a Downloader,
// reactor thread.
#pragma once

#include "peer/download/indexes.hpp"
#include "shared/net/event_loop.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <vector>

namespace gs::peer {

// Tests shorten them; the client runs with the defaults.
struct RankingLimits {
    net::Clock::duration tick = std::chrono::seconds(1);  // how often rates are sampled
    // A peer is slow while its rate is under the good peers' median divided by this; the good
    // peers are those within this factor of the fastest.
    double slow_factor = 8;
    // Slow for this long, with requests outstanding all along: it is dropped.
    net::Clock::duration slow_for = std::chrono::seconds(3);
};

class PeerRanking {
public:
    explicit PeerRanking(RankingLimits limits = {}) : limits_(limits) {}

    // One tick's sample for `peer`: the bytes it delivered over `seconds`, and whether it had
    // requests outstanding (only a peer that was asked for something can be judged by what it
    // delivered; an idle one keeps its last rate).
    void sample(PeerId peer, std::uint64_t bytes, double seconds, bool busy);
    void forget(PeerId peer);

    struct Outlier {
        PeerId peer;
        double rate = 0;    // bytes per second
        double median = 0;  // of the good peers
    };
    // After a tick's samples: the peers that have been slow for at least slow_for at `now`.
    // (Whether others could give us its pieces is the caller's to check.)
    std::vector<Outlier> judge(net::Clock::time_point now);

    // Bytes per second (0: not measured yet).
    double rate(PeerId peer) const;
    // Among the good peers: delivered something, and within slow_factor of the fastest.
    bool is_fast(PeerId peer) const;
    // The rate of the good peers' median (0: none measured yet).
    double good_median() const;
    // Peers measured so far, fastest first.
    std::vector<PeerId> fastest_first() const;

private:
    struct Entry {
        double rate = 0;
        bool measured = false;
        bool busy = false;
        bool slow = false;
        net::Clock::time_point slow_since{};
    };
    double best_rate() const;

    RankingLimits limits_;
    std::map<PeerId, Entry> peers_;
};

}  // namespace gs::peer
