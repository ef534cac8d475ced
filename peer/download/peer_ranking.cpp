#include "peer/download/peer_ranking.hpp"

#include <algorithm>

namespace gs::peer {

namespace {
// Weight of the newest sample in a peer's rate: a few ticks smooth out one lucky burst.
constexpr double kNewSampleWeight = 0.5;
}  // namespace

void PeerRanking::sample(PeerId peer, std::uint64_t bytes, double seconds, bool busy) {
    Entry& e = peers_[peer];
    e.busy = busy;
    if (seconds <= 0 || (!busy && bytes == 0)) return;  // idle: nothing learnt
    const double now = static_cast<double>(bytes) / seconds;
    e.rate = e.measured ? (1 - kNewSampleWeight) * e.rate + kNewSampleWeight * now : now;
    e.measured = true;
}

void PeerRanking::forget(PeerId peer) {
    peers_.erase(peer);
}

double PeerRanking::rate(PeerId peer) const {
    auto it = peers_.find(peer);
    return it == peers_.end() ? 0 : it->second.rate;
}

double PeerRanking::best_rate() const {
    double best = 0;
    for (const auto& [id, e] : peers_) best = std::max(best, e.rate);
    return best;
}

bool PeerRanking::is_fast(PeerId peer) const {
    const double r = rate(peer);
    return r > 0 && r * limits_.slow_factor >= best_rate();
}

double PeerRanking::good_median() const {
    const double best = best_rate();
    if (best == 0) return 0;
    std::vector<double> good;
    for (const auto& [id, e] : peers_) {
        if (e.rate > 0 && e.rate * limits_.slow_factor >= best) good.push_back(e.rate);
    }
    std::sort(good.begin(), good.end());
    return good[good.size() / 2];
}

std::vector<PeerRanking::Outlier> PeerRanking::judge(net::Clock::time_point now) {
    std::vector<Outlier> out;
    const double median = good_median();
    for (auto& [id, e] : peers_) {
        // Unmeasured (rate 0) counts as slow too: it was asked and delivered nothing.
        const bool slow = median > 0 && e.busy && e.rate * limits_.slow_factor < median;
        if (!slow) {
            e.slow = false;
            continue;
        }
        if (!e.slow) {
            e.slow = true;
            e.slow_since = now;
        }
        if (now - e.slow_since >= limits_.slow_for) out.push_back({id, e.rate, median});
    }
    return out;
}

std::vector<PeerId> PeerRanking::fastest_first() const {
    std::vector<std::pair<double, PeerId>> by_rate;
    for (const auto& [id, e] : peers_) {
        if (e.measured) by_rate.emplace_back(e.rate, id);
    }
    std::stable_sort(by_rate.begin(), by_rate.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<PeerId> out;
    for (const auto& [rate, id] : by_rate) out.push_back(id);
    return out;
}

}  // namespace gs::peer
