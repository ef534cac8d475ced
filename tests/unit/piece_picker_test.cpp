#include "peer/download/piece_picker.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gs::peer {
namespace {

constexpr std::int64_t kBlock = PiecePicker::kBlockBytes;

Bitfield bits(std::string_view pattern) {
    Bitfield b(pattern.size());
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '1') b.set(i);
    }
    return b;
}

PeerId peer(std::uint32_t n) {
    return PeerId{n};
}
PieceIndex piece(std::uint32_t n) {
    return PieceIndex{n};
}

// A swarm described as one string per peer ("1100": has pieces 0 and 1); peer i is PeerId{i}.
// Pieces are `blocks_per_piece` blocks long and the file fills them exactly.
PiecePicker swarm(const std::vector<std::string>& peers, std::uint32_t blocks_per_piece = 1,
                  std::uint64_t seed = 1) {
    auto pieces = static_cast<std::uint32_t>(peers.at(0).size());
    std::int64_t piece_length = blocks_per_piece * kBlock;
    PiecePicker picker(pieces, piece_length, pieces * piece_length, seed);
    for (std::uint32_t i = 0; i < peers.size(); ++i) picker.on_bitfield(peer(i), bits(peers[i]));
    return picker;
}

std::vector<std::uint32_t> pieces_of(const std::vector<BlockRequest>& requests) {
    std::vector<std::uint32_t> out;
    for (const auto& r : requests) out.push_back(r.piece.value);
    return out;
}

BlockRequest req(std::uint32_t p, std::uint32_t block, std::uint32_t length = kBlock) {
    return BlockRequest{piece(p), static_cast<std::uint32_t>(block * kBlock), length};
}

// Delivers every request and reports each completed piece as passed.
void deliver_all(PiecePicker& picker, PeerId from, const std::vector<BlockRequest>& requests) {
    for (const auto& r : requests) {
        auto outcome = picker.on_block(from, r.piece, r.begin);
        ASSERT_TRUE(outcome.accepted);
        if (outcome.piece_complete) picker.on_piece_passed(r.piece);
    }
}

TEST(PiecePicker, PrefersRarerPieces) {
    auto picker = swarm({"1111", "0111", "0011"});
    EXPECT_EQ(picker.availability(piece(0)), 1u);
    EXPECT_EQ(picker.availability(piece(3)), 3u);
    EXPECT_EQ(pieces_of(picker.pick(peer(0), 1)), std::vector<std::uint32_t>{0});
    EXPECT_EQ(pieces_of(picker.pick(peer(0), 1)), std::vector<std::uint32_t>{1});
    auto last = pieces_of(picker.pick(peer(0), 5));
    std::sort(last.begin(), last.end());
    EXPECT_EQ(last, (std::vector<std::uint32_t>{2, 3}));
    EXPECT_TRUE(picker.pick(peer(0), 5).empty()) << "endgame needs another peer";
}

TEST(PiecePicker, BreaksTiesWithTheSeededRandomOrder) {
    auto order = [](std::uint64_t seed) {
        auto picker = swarm({"11111111"}, 1, seed);
        return pieces_of(picker.pick(peer(0), 8));
    };
    EXPECT_EQ(order(7), order(7));
    bool differs = false;
    for (std::uint64_t seed = 8; seed < 20 && !differs; ++seed) differs = order(seed) != order(7);
    EXPECT_TRUE(differs);
    auto sorted = order(7);
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(PiecePicker, OnlyPicksPiecesThePeerHas) {
    auto picker = swarm({"0101", "0000"});
    auto picks = pieces_of(picker.pick(peer(0), 10));
    std::sort(picks.begin(), picks.end());
    EXPECT_EQ(picks, (std::vector<std::uint32_t>{1, 3}));
    EXPECT_TRUE(picker.pick(peer(1), 10).empty());
    EXPECT_TRUE(picker.pick(peer(9), 10).empty()) << "unknown peer";
    EXPECT_FALSE(picker.is_interesting(peer(1)));
    EXPECT_TRUE(picker.is_interesting(peer(0)));
}

TEST(PiecePicker, FinishesStartedPiecesBeforeRarerOnes) {
    auto picker = swarm({"01", "00"}, 4);
    EXPECT_EQ(picker.pick(peer(0), 2), (std::vector<BlockRequest>{req(1, 0), req(1, 1)}));
    picker.on_bitfield(peer(1), bits("11"));  // piece 0 is now rarer than the started piece 1
    EXPECT_EQ(picker.pick(peer(1), 3),
              (std::vector<BlockRequest>{req(1, 2), req(1, 3), req(0, 0)}));
}

TEST(PiecePicker, SplitsTheLastPieceIntoAShortLastBlock) {
    // Two whole pieces of 4 blocks, then a piece of one block and 100 bytes.
    PiecePicker picker(3, 4 * kBlock, 8 * kBlock + kBlock + 100, 1);
    picker.on_bitfield(peer(0), bits("001"));
    EXPECT_EQ(picker.piece_size(piece(2)), kBlock + 100);
    EXPECT_EQ(picker.block_count(piece(2)), 2u);
    EXPECT_EQ(picker.pick(peer(0), 10), (std::vector<BlockRequest>{req(2, 0), req(2, 1, 100)}));
}

TEST(PiecePicker, ReportsACompletePieceOnceEveryBlockIsIn) {
    auto picker = swarm({"1"}, 2);
    auto picks = picker.pick(peer(0), 2);
    ASSERT_EQ(picks.size(), 2u);
    auto first = picker.on_block(peer(0), picks[0].piece, picks[0].begin);
    EXPECT_TRUE(first.accepted);
    EXPECT_FALSE(first.piece_complete);
    auto second = picker.on_block(peer(0), picks[1].piece, picks[1].begin);
    EXPECT_TRUE(second.piece_complete);
    EXPECT_FALSE(picker.is_complete());
    EXPECT_EQ(picker.contributors(piece(0)), std::vector<PeerId>{peer(0)});
    picker.on_piece_passed(piece(0));
    EXPECT_TRUE(picker.is_complete());
    EXPECT_EQ(picker.have_count(), 1u);
    EXPECT_FALSE(picker.on_block(peer(0), piece(0), 0).accepted) << "already have it";
}

TEST(PiecePicker, IgnoresBlocksItNeverAskedForOrThatDoNotExist) {
    auto picker = swarm({"1"}, 2);
    EXPECT_FALSE(picker.on_block(peer(0), piece(0), 0).accepted) << "piece not started";
    picker.pick(peer(0), 1);
    EXPECT_FALSE(picker.on_block(peer(0), piece(0), 5).accepted) << "not block aligned";
    EXPECT_FALSE(picker.on_block(peer(0), piece(0), 2 * kBlock).accepted) << "past the piece";
    EXPECT_FALSE(picker.on_block(peer(0), piece(7), 0).accepted) << "no such piece";
}

TEST(PiecePicker, PeerGoneReturnsItsBlocksAndAvailability) {
    auto picker = swarm({"1", "1"}, 2);
    auto picks = picker.pick(peer(0), 2);
    ASSERT_EQ(picks.size(), 2u);
    picker.on_peer_gone(peer(0));
    EXPECT_EQ(picker.availability(piece(0)), 1u);
    EXPECT_FALSE(picker.is_endgame());
    EXPECT_EQ(picker.pick(peer(1), 5), picks);
    EXPECT_TRUE(picker.pick(peer(0), 5).empty()) << "a gone peer gets nothing";
}

TEST(PiecePicker, KeepsBlocksAGonePeerAlreadyDelivered) {
    auto picker = swarm({"1", "1"}, 2);
    auto picks = picker.pick(peer(0), 2);
    EXPECT_TRUE(picker.on_block(peer(0), picks[0].piece, picks[0].begin).accepted);
    picker.on_peer_gone(peer(0));
    EXPECT_EQ(picker.pick(peer(1), 5), std::vector<BlockRequest>{picks[1]});
}

TEST(PiecePicker, RequestTimeoutLetsAnotherPeerTakeTheBlock) {
    auto picker = swarm({"1", "1"}, 2);
    auto picks = picker.pick(peer(0), 1);
    ASSERT_EQ(picks.size(), 1u);
    picker.on_request_timeout(peer(0), picks[0]);
    EXPECT_EQ(picker.pick(peer(1), 2), (std::vector<BlockRequest>{req(0, 0), req(0, 1)}));
    // The slow peer's block still counts if it turns up after all.
    EXPECT_TRUE(picker.on_block(peer(0), piece(0), 0).accepted);
}

TEST(PiecePicker, EndgameReRequestsFromOtherPeersAndNamesWhoToCancel) {
    auto picker = swarm({"1", "1", "1"}, 2);
    EXPECT_EQ(picker.pick(peer(0), 1), std::vector<BlockRequest>{req(0, 0)});
    EXPECT_FALSE(picker.is_endgame());
    // Peer 1 takes the last Missing block; from then on requested blocks are asked again.
    EXPECT_EQ(picker.pick(peer(1), 5), (std::vector<BlockRequest>{req(0, 1), req(0, 0)}));
    EXPECT_TRUE(picker.is_endgame());
    // The block with the fewest askers comes first.
    EXPECT_EQ(picker.pick(peer(2), 5), (std::vector<BlockRequest>{req(0, 1), req(0, 0)}));

    auto first = picker.on_block(peer(2), piece(0), 0);
    EXPECT_TRUE(first.accepted);
    EXPECT_EQ(first.cancels, (std::vector<PeerId>{peer(0), peer(1)}));
    auto second = picker.on_block(peer(1), piece(0), kBlock);
    EXPECT_EQ(second.cancels, std::vector<PeerId>{peer(2)});
    EXPECT_TRUE(second.piece_complete);
    EXPECT_FALSE(picker.on_block(peer(0), piece(0), 0).accepted) << "a late duplicate";
}

TEST(PiecePicker, EndgameAsksAtMostAFewPeersPerBlock) {
    std::vector<std::string> peers(PiecePicker::kMaxEndgameAsks + 1, "1");
    auto picker = swarm(peers);
    for (std::uint32_t i = 0; i < PiecePicker::kMaxEndgameAsks; ++i) {
        EXPECT_EQ(picker.pick(peer(i), 5).size(), 1u) << "peer " << i;
    }
    EXPECT_TRUE(picker.pick(peer(PiecePicker::kMaxEndgameAsks), 5).empty());
    EXPECT_TRUE(picker.pick(peer(0), 5).empty()) << "never the same block twice to one peer";
}

// The last blocks never wait only on slow peers: when every endgame ask is taken, a fast peer
// (one of the fastest by the Downloader's ranking) still joins, and the block it delivers first
// cancels the others.
TEST(PiecePicker, AFastPeerJoinsAnEndgameBlockEvenWhenSlowPeersTookEveryAsk) {
    const std::uint32_t slow = PiecePicker::kMaxEndgameAsks;  // peers 0 .. slow-1
    std::vector<std::string> peers(slow + 2, "1");
    auto picker = swarm(peers);
    for (std::uint32_t i = 0; i < slow; ++i) {
        EXPECT_EQ(picker.pick(peer(i), 5).size(), 1u) << "peer " << i;
    }
    // At the cap: another peer that is not fast gets nothing, a fast one gets the block.
    EXPECT_TRUE(picker.pick(peer(slow), 5).empty());
    EXPECT_EQ(picker.pick(peer(slow + 1), 5, /*fast=*/true), std::vector<BlockRequest>{req(0, 0)});
    // Once: it is not asked twice for the same block.
    EXPECT_TRUE(picker.pick(peer(slow + 1), 5, /*fast=*/true).empty());
    auto outcome = picker.on_block(peer(slow + 1), piece(0), 0);
    ASSERT_TRUE(outcome.accepted);
    EXPECT_EQ(outcome.cancels.size(), slow);
    EXPECT_TRUE(outcome.piece_complete);
}

TEST(PiecePicker, FailedPieceBarsALoneContributor) {
    auto picker = swarm({"11", "11"});
    auto picks = picker.pick(peer(0), 1);
    ASSERT_EQ(picks.size(), 1u);
    PieceIndex bad = picks[0].piece;
    ASSERT_TRUE(picker.on_block(peer(0), bad, 0).piece_complete);
    picker.on_piece_failed(bad, picker.contributors(bad));
    EXPECT_TRUE(picker.is_barred(peer(0), bad));
    EXPECT_FALSE(picker.is_barred(peer(1), bad));
    EXPECT_EQ(picker.strikes(peer(0)), 1u);
    EXPECT_EQ(picker.strikes(peer(1)), 0u);
    auto again = picker.pick(peer(0), 5);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_NE(again[0].piece, bad) << "never the piece it sent bad data for";
    EXPECT_EQ(picker.pick(peer(1), 1), std::vector<BlockRequest>{req(bad.value, 0)});
}

TEST(PiecePicker, APieceEveryHolderSentCorruptIsCountedAsSpoiledUntilAGoodCopyComes) {
    // Peer 0 alone has piece 0; piece 1 nobody has (not spoiled: it can still come).
    auto picker = swarm({"10"});
    EXPECT_EQ(picker.spoiled_pieces(), 0u);
    auto picks = picker.pick(peer(0), 1);
    ASSERT_EQ(pieces_of(picks), std::vector<std::uint32_t>{0});
    ASSERT_TRUE(picker.on_block(peer(0), piece(0), 0).piece_complete);
    picker.on_piece_failed(piece(0), picker.contributors(piece(0)));
    EXPECT_EQ(picker.spoiled_pieces(), 1u);
    EXPECT_FALSE(picker.is_interesting(peer(0)));

    // Another peer with the piece: it can come from there, so it is not spoiled any more.
    picker.on_bitfield(peer(1), bits("10"));
    EXPECT_EQ(picker.spoiled_pieces(), 0u);
    deliver_all(picker, peer(1), picker.pick(peer(1), 1));
    EXPECT_TRUE(picker.has_piece(piece(0)));
    EXPECT_EQ(picker.spoiled_pieces(), 0u);
}

TEST(PiecePicker, AFailureWithSeveralContributorsRefetchesFromOnePeer) {
    auto picker = swarm({"1", "1"}, 2);
    EXPECT_EQ(picker.pick(peer(0), 1), std::vector<BlockRequest>{req(0, 0)});
    EXPECT_EQ(picker.pick(peer(1), 1), std::vector<BlockRequest>{req(0, 1)});
    picker.on_block(peer(0), piece(0), 0);
    ASSERT_TRUE(picker.on_block(peer(1), piece(0), kBlock).piece_complete);
    picker.on_piece_failed(piece(0), picker.contributors(piece(0)));
    // Nobody can be blamed yet.
    EXPECT_FALSE(picker.is_barred(peer(0), piece(0)));
    EXPECT_EQ(picker.strikes(peer(0)) + picker.strikes(peer(1)), 0u);
    EXPECT_EQ(picker.pick(peer(1), 1), std::vector<BlockRequest>{req(0, 0)});
    EXPECT_TRUE(picker.pick(peer(0), 5).empty()) << "the piece now comes from peer 1 alone";
    EXPECT_EQ(picker.pick(peer(1), 5), std::vector<BlockRequest>{req(0, 1)});
    picker.on_block(peer(1), piece(0), 0);
    ASSERT_TRUE(picker.on_block(peer(1), piece(0), kBlock).piece_complete);
    // A second failure from one source names the liar.
    picker.on_piece_failed(piece(0), picker.contributors(piece(0)));
    EXPECT_TRUE(picker.is_barred(peer(1), piece(0)));
    EXPECT_EQ(picker.strikes(peer(1)), 1u);
    EXPECT_EQ(picker.pick(peer(0), 5), (std::vector<BlockRequest>{req(0, 0), req(0, 1)}));
}

TEST(PiecePicker, SkipsPiecesAlreadyVerifiedOnResume) {
    auto picker = swarm({"111"});
    picker.set_have(piece(0));
    picker.set_have(piece(2));
    EXPECT_EQ(picker.have_count(), 2u);
    auto picks = picker.pick(peer(0), 5);
    EXPECT_EQ(pieces_of(picks), std::vector<std::uint32_t>{1});
    deliver_all(picker, peer(0), picks);
    EXPECT_TRUE(picker.is_complete());
}

TEST(PiecePicker, AnEmptyFileIsCompleteFromTheStart) {
    PiecePicker picker(0, 512 * 1024, 0, 1);
    picker.on_bitfield(peer(0), Bitfield(0));
    EXPECT_TRUE(picker.is_complete());
    EXPECT_FALSE(picker.is_endgame());
    EXPECT_TRUE(picker.pick(peer(0), 5).empty());
}

TEST(PiecePicker, HaveAndBitfieldKeepAvailabilityExact) {
    PiecePicker picker(3, kBlock, 3 * kBlock, 1);
    picker.on_have(peer(0), piece(1));  // no bitfield first: allowed by BEP 3
    picker.on_have(peer(0), piece(1));
    EXPECT_EQ(picker.availability(piece(1)), 1u);
    EXPECT_EQ(pieces_of(picker.pick(peer(0), 5)), std::vector<std::uint32_t>{1});
    picker.on_bitfield(peer(1), bits("010"));
    EXPECT_EQ(picker.availability(piece(1)), 2u);
    picker.on_bitfield(peer(1), bits("100"));  // replaces what was known
    EXPECT_EQ(picker.availability(piece(1)), 1u);
    EXPECT_EQ(picker.availability(piece(0)), 1u);
    picker.on_peer_gone(peer(1));
    EXPECT_EQ(picker.availability(piece(0)), 0u);
}

TEST(PiecePicker, DownloadsAWholeSwarmWithoutAskingOnePeerTwice) {
    auto picker = swarm({"1100110011", "0111000111", "0000111101"}, 3);
    for (int round = 0; round < 100 && !picker.is_complete(); ++round) {
        for (std::uint32_t p = 0; p < 3; ++p) {
            auto picks = picker.pick(peer(p), 4);
            for (std::size_t i = 0; i < picks.size(); ++i) {
                for (std::size_t j = i + 1; j < picks.size(); ++j) ASSERT_NE(picks[i], picks[j]);
            }
            for (const auto& r : picks) {
                auto outcome = picker.on_block(peer(p), r.piece, r.begin);
                if (outcome.piece_complete) picker.on_piece_passed(r.piece);
            }
        }
    }
    EXPECT_TRUE(picker.is_complete());
    EXPECT_EQ(picker.have_count(), 10u);
}

}  // namespace
}  // namespace gs::peer
