// PiecePicker: decides which blocks each peer should fetch next — started pieces first, then the
// rarest piece with a random tie-break, then endgame duplicates with cancels — and tracks
// per-piece availability and per-block state (Missing, Requested, Have) with who was asked.
// It is the one owner of a download's piece state: it decides when a piece is complete (every
// block Have) and holds the verified set; the store, the Downloader and the serving side ask it.
// No sockets, files or clock. Owned by one Downloader, reactor thread.
#pragma once

#include "peer/download/indexes.hpp"
#include "peer/wire/wire_constants.hpp"
#include "shared/bitfield.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace gs::peer {

class PiecePicker {
public:
    static constexpr std::uint32_t kBlockBytes = wire::kBlockBytes;  // BEP 3
    // Endgame: at most this many peers are asked for one block at the same time.
    static constexpr std::size_t kMaxEndgameAsks = 3;

    // `piece_count` must be ceil(total_length / piece_length). The seed drives the random
    // tie-break between equally rare pieces (tests pass a fixed one).
    PiecePicker(std::uint32_t piece_count, std::int64_t piece_length, std::int64_t total_length,
                std::uint64_t seed = std::random_device{}());

    // --- what peers have. Piece indexes must be < piece_count() (the caller checks input).
    // A peer's bitfield (replaces what was known of it). Its size must be piece_count().
    void on_bitfield(PeerId peer, const Bitfield& has);
    void on_have(PeerId peer, PieceIndex piece);
    // The peer left: its availability goes, blocks only it was asked for become Missing, and
    // everything known about it (bars, strikes) is forgotten.
    void on_peer_gone(PeerId peer);
    // Whether the peer has a piece we still need and may fetch from it (BEP 3 "interested").
    bool is_interesting(PeerId peer) const;
    // Whether the peer has said it has the piece (bitfield or have).
    bool peer_has(PeerId peer, PieceIndex piece) const;

    // --- requests
    // Up to `max_blocks` blocks to request from `peer`: Missing blocks of started pieces first,
    // then new pieces rarest first; once no block is Missing anywhere (endgame), blocks already
    // requested from other peers: at most kMaxEndgameAsks askers per block, except that a `fast`
    // peer (one of the fastest, by the caller's ranking) may always add itself, so the last
    // blocks never wait only on slow peers. Never a piece the peer is barred from.
    std::vector<BlockRequest> pick(PeerId peer, std::size_t max_blocks, bool fast = false);

    struct BlockOutcome {
        bool accepted = false;        // false: not a block we want (have it, unknown, duplicate)
        bool piece_complete = false;  // every block is in: verify the piece, then report back
        std::vector<PeerId> cancels;  // endgame: peers also asked for this block; send cancels
    };
    // A block arrived. The caller has matched it to a request of ours (so its length is right).
    BlockOutcome on_block(PeerId peer, PieceIndex piece, std::uint32_t begin);
    // The request will not be answered (timeout, choke, cancelled): the block may go elsewhere.
    void on_request_timeout(PeerId peer, const BlockRequest& block);

    // --- verification of a complete piece (after on_block said piece_complete)
    void on_piece_passed(PieceIndex piece);
    // The hash did not match: every block is Missing again. A lone contributor is barred from the
    // piece and gets a strike. With several contributors nobody can be blamed, so the piece is
    // refetched from a single peer; if that fails too, the blame is exact.
    void on_piece_failed(PieceIndex piece, std::span<const PeerId> contributors);
    // Who sent the blocks of a piece (each peer once), for on_piece_failed.
    std::vector<PeerId> contributors(PieceIndex piece) const;
    // Pieces that failed with this peer as the only contributor; the caller drops a peer that
    // keeps sending bad data.
    std::uint32_t strikes(PeerId peer) const;
    bool is_barred(PeerId peer, PieceIndex piece) const;
    // Pieces we still need that some peer has, but every peer that has them is barred from them
    // (each sent it corrupt): they cannot come until a peer with a good copy does.
    std::uint32_t spoiled_pieces() const;

    // --- our side
    void set_have(PieceIndex piece);  // a piece verified before (resume)
    bool has_piece(PieceIndex piece) const { return have_.has(piece.value); }
    bool is_complete() const { return have_.all(); }
    std::size_t have_count() const { return have_.count(); }
    const Bitfield& have() const { return have_; }
    bool is_endgame() const { return missing_blocks_ == 0 && !is_complete(); }

    std::uint32_t piece_count() const { return piece_count_; }
    std::uint32_t availability(PieceIndex piece) const { return availability_[piece.value]; }
    std::uint32_t piece_size(PieceIndex piece) const;  // the last piece may be short
    std::uint32_t block_count(PieceIndex piece) const;
    BlockRequest block(PieceIndex piece, BlockIndex block) const;  // the last block may be short

private:
    enum class BlockState : std::uint8_t { Missing, Requested, Have };
    struct Block {
        BlockState state = BlockState::Missing;
        std::vector<PeerId> asked;  // outstanding requests for it (more than one in endgame)
        PeerId from;                // who sent it, once Have
    };
    struct Partial {
        std::vector<Block> blocks;
        std::uint32_t have_blocks = 0;
        bool verifying = false;  // all blocks in, waiting for on_piece_passed/failed
        // After a failure with several contributors the piece comes from one peer only.
        bool single_source = false;
        std::optional<PeerId> owner;
    };
    struct PeerState {
        Bitfield has;
        std::vector<std::uint32_t> barred;  // pieces it sent bad data for
        std::uint32_t strikes = 0;
    };

    bool is_pickable(const PeerState& p, std::uint32_t piece) const;
    bool may_take_missing(const Partial& partial, PeerId peer) const;
    Partial& start(std::uint32_t piece);
    void take_missing(PeerId peer, std::uint32_t piece, Partial& partial, std::size_t max_blocks,
                      std::vector<BlockRequest>& out);
    void take_endgame(PeerId peer, const PeerState& p, std::size_t max_blocks, std::size_t max_asks,
                      std::vector<BlockRequest>& out);
    void drop_ask(Block& block, PeerId peer);
    std::vector<std::uint32_t> partials_by_rarity(const PeerState& p) const;
    bool is_rarer(std::uint32_t a, std::uint32_t b) const;

    std::uint32_t piece_count_;
    std::int64_t piece_length_;
    std::int64_t total_length_;
    Bitfield have_;
    std::vector<std::uint32_t> availability_;
    std::vector<std::uint32_t> rank_;  // random tie-break order
    std::map<std::uint32_t, Partial> partial_;
    std::unordered_map<std::uint32_t, PeerState> peers_;
    std::uint64_t missing_blocks_ = 0;  // blocks Missing in pieces we lack and are not verifying
};

}  // namespace gs::peer
