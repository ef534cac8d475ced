#include "peer/download/piece_picker.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace gs::peer {

PiecePicker::PiecePicker(std::uint32_t piece_count, std::int64_t piece_length,
                         std::int64_t total_length, std::uint64_t seed)
    : piece_count_(piece_count),
      piece_length_(piece_length),
      total_length_(total_length),
      have_(piece_count),
      availability_(piece_count, 0),
      rank_(piece_count) {
    assert(piece_length > 0 && total_length >= 0);
    assert(static_cast<std::int64_t>(piece_count) ==
           total_length / piece_length + (total_length % piece_length != 0 ? 1 : 0));
    std::iota(rank_.begin(), rank_.end(), 0u);
    std::mt19937_64 rng(seed);
    std::shuffle(rank_.begin(), rank_.end(), rng);
    for (std::uint32_t i = 0; i < piece_count_; ++i) missing_blocks_ += block_count(PieceIndex{i});
}

std::uint32_t PiecePicker::piece_size(PieceIndex piece) const {
    assert(piece.value < piece_count_);
    return static_cast<std::uint32_t>(
        std::min(piece_length_, total_length_ - std::int64_t{piece.value} * piece_length_));
}

std::uint32_t PiecePicker::block_count(PieceIndex piece) const {
    return (piece_size(piece) + kBlockBytes - 1) / kBlockBytes;
}

BlockRequest PiecePicker::block(PieceIndex piece, BlockIndex block) const {
    assert(block.value < block_count(piece));
    std::uint32_t begin = block.value * kBlockBytes;
    return BlockRequest{piece, begin, std::min(kBlockBytes, piece_size(piece) - begin)};
}

// --- what peers have

void PiecePicker::on_bitfield(PeerId peer, const Bitfield& has) {
    assert(has.size() == piece_count_);
    PeerState& p = peers_[peer.value];
    for (std::uint32_t i = 0; i < piece_count_; ++i) {
        bool had = p.has.size() == piece_count_ && p.has.has(i);
        if (had && !has.has(i)) --availability_[i];
        if (!had && has.has(i)) ++availability_[i];
    }
    p.has = has;
}

void PiecePicker::on_have(PeerId peer, PieceIndex piece) {
    assert(piece.value < piece_count_);
    PeerState& p = peers_[peer.value];
    if (p.has.size() != piece_count_) p.has = Bitfield(piece_count_);  // no bitfield was sent
    if (p.has.has(piece.value)) return;
    p.has.set(piece.value);
    ++availability_[piece.value];
}

void PiecePicker::drop_ask(Block& block, PeerId peer) {
    auto it = std::find(block.asked.begin(), block.asked.end(), peer);
    if (it == block.asked.end()) return;
    block.asked.erase(it);
    if (block.state == BlockState::Requested && block.asked.empty()) {
        block.state = BlockState::Missing;
        ++missing_blocks_;
    }
}

void PiecePicker::on_peer_gone(PeerId peer) {
    auto it = peers_.find(peer.value);
    if (it == peers_.end()) return;
    const Bitfield& has = it->second.has;
    for (std::uint32_t i = 0; i < has.size(); ++i) {
        if (has.has(i)) --availability_[i];
    }
    for (auto& [index, partial] : partial_) {
        for (Block& b : partial.blocks) drop_ask(b, peer);
        if (partial.owner == peer) partial.owner.reset();
    }
    peers_.erase(it);
}

bool PiecePicker::is_pickable(const PeerState& p, std::uint32_t piece) const {
    return !have_.has(piece) && p.has.size() == piece_count_ && p.has.has(piece) &&
           std::find(p.barred.begin(), p.barred.end(), piece) == p.barred.end();
}

std::uint32_t PiecePicker::spoiled_pieces() const {
    std::uint32_t spoiled = 0;
    for (std::uint32_t i = 0; i < piece_count_; ++i) {
        if (have_.has(i) || availability_[i] == 0) continue;
        const bool obtainable = std::any_of(peers_.begin(), peers_.end(), [&](const auto& kv) {
            return is_pickable(kv.second, i);
        });
        if (!obtainable) ++spoiled;
    }
    return spoiled;
}

bool PiecePicker::peer_has(PeerId peer, PieceIndex piece) const {
    auto it = peers_.find(peer.value);
    return it != peers_.end() && it->second.has.size() == piece_count_ &&
           it->second.has.has(piece.value);
}

bool PiecePicker::is_interesting(PeerId peer) const {
    auto it = peers_.find(peer.value);
    if (it == peers_.end()) return false;
    for (std::uint32_t i = 0; i < piece_count_; ++i) {
        if (is_pickable(it->second, i)) return true;
    }
    return false;
}

// --- requests

bool PiecePicker::is_rarer(std::uint32_t a, std::uint32_t b) const {
    if (availability_[a] != availability_[b]) return availability_[a] < availability_[b];
    return rank_[a] < rank_[b];
}

bool PiecePicker::may_take_missing(const Partial& partial, PeerId peer) const {
    return !partial.verifying &&
           (!partial.single_source || !partial.owner || partial.owner == peer);
}

std::vector<std::uint32_t> PiecePicker::partials_by_rarity(const PeerState& p) const {
    std::vector<std::uint32_t> out;
    for (const auto& [index, partial] : partial_) {
        if (!partial.verifying && is_pickable(p, index)) out.push_back(index);
    }
    std::sort(out.begin(), out.end(),
              [this](std::uint32_t a, std::uint32_t b) { return is_rarer(a, b); });
    return out;
}

PiecePicker::Partial& PiecePicker::start(std::uint32_t piece) {
    Partial& partial = partial_[piece];
    partial.blocks.resize(block_count(PieceIndex{piece}));
    return partial;
}

void PiecePicker::take_missing(PeerId peer, std::uint32_t piece, Partial& partial,
                               std::size_t max_blocks, std::vector<BlockRequest>& out) {
    for (std::uint32_t i = 0; i < partial.blocks.size() && out.size() < max_blocks; ++i) {
        Block& b = partial.blocks[i];
        if (b.state != BlockState::Missing) continue;
        b.state = BlockState::Requested;
        b.asked.push_back(peer);
        --missing_blocks_;
        if (partial.single_source) partial.owner = peer;
        out.push_back(block(PieceIndex{piece}, BlockIndex{i}));
    }
}

void PiecePicker::take_endgame(PeerId peer, const PeerState& p, std::size_t max_blocks,
                               std::size_t max_asks, std::vector<BlockRequest>& out) {
    // Blocks with the fewest outstanding requests first, so every straggler gets a second asker
    // before any gets a third.
    auto order = partials_by_rarity(p);
    for (std::size_t asks = 1; asks < max_asks; ++asks) {
        for (std::uint32_t index : order) {
            Partial& partial = partial_.at(index);
            if (partial.single_source) continue;  // its blame must stay exact
            for (std::uint32_t i = 0; i < partial.blocks.size(); ++i) {
                if (out.size() >= max_blocks) return;
                Block& b = partial.blocks[i];
                if (b.state != BlockState::Requested || b.asked.size() != asks) continue;
                if (std::find(b.asked.begin(), b.asked.end(), peer) != b.asked.end()) continue;
                b.asked.push_back(peer);
                out.push_back(block(PieceIndex{index}, BlockIndex{i}));
            }
        }
    }
}

std::vector<BlockRequest> PiecePicker::pick(PeerId peer, std::size_t max_blocks, bool fast) {
    std::vector<BlockRequest> out;
    auto it = peers_.find(peer.value);
    if (it == peers_.end() || max_blocks == 0) return out;
    const PeerState& p = it->second;

    // Finish what was started: fewer pieces in memory, and sooner something to share.
    for (std::uint32_t index : partials_by_rarity(p)) {
        if (out.size() >= max_blocks) return out;
        Partial& partial = partial_.at(index);
        if (may_take_missing(partial, peer)) take_missing(peer, index, partial, max_blocks, out);
    }
    // Then new pieces, rarest first.
    while (out.size() < max_blocks && missing_blocks_ > 0) {
        std::optional<std::uint32_t> best;
        for (std::uint32_t i = 0; i < piece_count_; ++i) {
            if (!is_pickable(p, i) || partial_.contains(i)) continue;
            if (!best || is_rarer(i, *best)) best = i;
        }
        if (!best) break;
        take_missing(peer, *best, start(*best), max_blocks, out);
    }
    if (out.size() < max_blocks && missing_blocks_ == 0) {
        // A fast peer joins however many others were asked (each peer asks once per block).
        const std::size_t max_asks =
            fast ? std::max(kMaxEndgameAsks, peers_.size() + 1) : kMaxEndgameAsks;
        take_endgame(peer, p, max_blocks, max_asks, out);
    }
    return out;
}

PiecePicker::BlockOutcome PiecePicker::on_block(PeerId peer, PieceIndex piece,
                                                std::uint32_t begin) {
    BlockOutcome outcome;
    if (piece.value >= piece_count_ || have_.has(piece.value)) return outcome;
    auto it = partial_.find(piece.value);
    if (it == partial_.end() || it->second.verifying) return outcome;
    Partial& partial = it->second;
    if (begin % kBlockBytes != 0 || begin / kBlockBytes >= partial.blocks.size()) return outcome;
    Block& b = partial.blocks[begin / kBlockBytes];
    if (b.state == BlockState::Have) return outcome;        // an endgame duplicate
    if (b.state == BlockState::Missing) --missing_blocks_;  // late, after a timeout: still good
    for (PeerId other : b.asked) {
        if (other != peer) outcome.cancels.push_back(other);
    }
    b.asked.clear();
    b.state = BlockState::Have;
    b.from = peer;
    outcome.accepted = true;
    if (++partial.have_blocks == partial.blocks.size()) {
        partial.verifying = true;
        outcome.piece_complete = true;
    }
    return outcome;
}

void PiecePicker::on_request_timeout(PeerId peer, const BlockRequest& request) {
    auto it = partial_.find(request.piece.value);
    if (it == partial_.end() || request.begin % kBlockBytes != 0) return;
    std::uint32_t i = request.begin / kBlockBytes;
    if (i < it->second.blocks.size()) drop_ask(it->second.blocks[i], peer);
}

// --- verification

void PiecePicker::on_piece_passed(PieceIndex piece) {
    auto it = partial_.find(piece.value);
    assert(it != partial_.end() && it->second.verifying);
    partial_.erase(it);
    have_.set(piece.value);
}

void PiecePicker::on_piece_failed(PieceIndex piece, std::span<const PeerId> contributors) {
    auto it = partial_.find(piece.value);
    assert(it != partial_.end() && it->second.verifying);
    Partial& partial = it->second;
    for (Block& b : partial.blocks) b = Block{};
    missing_blocks_ += partial.blocks.size();
    partial.have_blocks = 0;
    partial.verifying = false;
    partial.owner.reset();

    std::vector<PeerId> unique(contributors.begin(), contributors.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    if (unique.size() == 1) {
        partial.single_source = false;
        auto p = peers_.find(unique[0].value);
        if (p != peers_.end()) {
            p->second.barred.push_back(piece.value);
            ++p->second.strikes;
        }
    } else {
        partial.single_source = true;
    }
}

std::vector<PeerId> PiecePicker::contributors(PieceIndex piece) const {
    std::vector<PeerId> out;
    auto it = partial_.find(piece.value);
    if (it == partial_.end()) return out;
    for (const Block& b : it->second.blocks) {
        if (b.state == BlockState::Have && std::find(out.begin(), out.end(), b.from) == out.end()) {
            out.push_back(b.from);
        }
    }
    return out;
}

std::uint32_t PiecePicker::strikes(PeerId peer) const {
    auto it = peers_.find(peer.value);
    return it == peers_.end() ? 0 : it->second.strikes;
}

bool PiecePicker::is_barred(PeerId peer, PieceIndex piece) const {
    auto it = peers_.find(peer.value);
    if (it == peers_.end()) return false;
    const auto& barred = it->second.barred;
    return std::find(barred.begin(), barred.end(), piece.value) != barred.end();
}

// --- our side

void PiecePicker::set_have(PieceIndex piece) {
    assert(piece.value < piece_count_);
    if (have_.has(piece.value)) return;
    auto it = partial_.find(piece.value);
    if (it == partial_.end()) {
        missing_blocks_ -= block_count(piece);
    } else {
        if (!it->second.verifying) {
            for (const Block& b : it->second.blocks) {
                if (b.state == BlockState::Missing) --missing_blocks_;
            }
        }
        partial_.erase(it);
    }
    have_.set(piece.value);
}

}  // namespace gs::peer
