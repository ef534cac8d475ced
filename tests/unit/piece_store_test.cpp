#include "peer/download/piece_store.hpp"

#include "shared/proto/bencode.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/test_content.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace gs::peer {
namespace {

using test::info_for;
using test::random_bytes;
using test::read_file;

constexpr std::uint32_t kBlock = 16 * 1024;
constexpr std::uint32_t kPiece = 2 * kBlock;

bool exists(const std::string& path) {
    return std::filesystem::exists(path);
}

using Verdict = PieceStore::Verdict;

class PieceStoreTest : public ::testing::Test {
protected:
    // Two whole pieces (two blocks each), then a short last piece of one block and 100 bytes.
    std::string content_ = random_bytes(2 * kPiece + kBlock + 100, 42);
    proto::InfoDict info_ = info_for(content_, kPiece);
    test::TempDir dir_;
    std::string dest_ = dir_.file("file");

    // The pieces verified so far, kept here as the download's picker keeps them: what the
    // last open_store resumed, plus every piece fetch_piece got Passed for.
    Bitfield verified_;

    std::string_view piece_bytes(std::uint32_t i) const {
        return std::string_view(content_).substr(std::size_t{i} * kPiece, info_.piece_size(i));
    }

    // `length` bytes of the partial file from `offset`: what is on disk.
    std::string part_bytes(std::size_t offset, std::size_t length) const {
        std::string all = read_file(dest_ + ".part");
        return offset < all.size() ? all.substr(offset, length) : std::string();
    }

    // Writes every block of piece i (from `source`) and has it verified: Passed, and recorded.
    void fetch_piece(PieceStore& store, std::uint32_t i, const std::string& source) {
        std::string_view bytes =
            std::string_view(source).substr(std::size_t{i} * kPiece, info_.piece_size(i));
        for (std::uint32_t begin = 0; begin < bytes.size(); begin += kBlock) {
            auto r = store.write_block(PieceIndex{i}, begin, bytes.substr(begin, kBlock));
            ASSERT_TRUE(r.ok()) << r.error().message;
        }
        auto verdict = store.verify_piece(PieceIndex{i});
        ASSERT_TRUE(verdict.ok()) << verdict.error().message;
        ASSERT_EQ(*verdict, Verdict::Passed);
        verified_.set(i);
    }

    PieceStore open_store() {
        auto store = PieceStore::open(dest_, info_);
        EXPECT_TRUE(store.ok()) << store.error().message;
        verified_ = store->take_resumed();
        return std::move(store).value();
    }
};

TEST_F(PieceStoreTest, PreallocatesThePartialFileBesideTheDestination) {
    PieceStore store = open_store();
    EXPECT_EQ(store.part_path(), dest_ + ".part");
    EXPECT_EQ(std::filesystem::file_size(dest_ + ".part"), content_.size());
    EXPECT_TRUE(verified_.none());
    EXPECT_EQ(verified_.size(), 3u);
    EXPECT_FALSE(exists(dest_));
}

TEST_F(PieceStoreTest, AssemblesBlocksInAnyOrderIntoAVerifiedPiece) {
    PieceStore store = open_store();
    auto second = store.write_block(PieceIndex{1}, kBlock, piece_bytes(1).substr(kBlock));
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(store.pieces_in_memory(), 1u);
    auto first = store.write_block(PieceIndex{1}, 0, piece_bytes(1).substr(0, kBlock));
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(store.pieces_in_memory(), 1u);
    EXPECT_EQ(part_bytes(kPiece, kPiece), std::string(kPiece, '\0')) << "not on disk yet";
    auto verdict = store.verify_piece(PieceIndex{1});
    ASSERT_TRUE(verdict.ok()) << verdict.error().message;
    EXPECT_EQ(*verdict, Verdict::Passed);
    EXPECT_EQ(store.pieces_in_memory(), 0u);
    EXPECT_EQ(part_bytes(kPiece, kPiece), piece_bytes(1));
    EXPECT_EQ(part_bytes(kPiece + 5, 100), piece_bytes(1).substr(5, 100));
}

TEST_F(PieceStoreTest, HandlesTheShortLastPiece) {
    PieceStore store = open_store();
    EXPECT_EQ(info_.piece_size(2), kBlock + 100);
    fetch_piece(store, 2, content_);
    EXPECT_EQ(part_bytes(2 * kPiece + kBlock, 100), content_.substr(content_.size() - 100));
}

TEST_F(PieceStoreTest, RejectsACorruptPieceBeforeItTouchesDisk) {
    PieceStore store = open_store();
    std::string bad(piece_bytes(0).substr(0, kBlock));
    bad[7] ^= 1;
    ASSERT_TRUE(store.write_block(PieceIndex{0}, 0, bad).ok());
    ASSERT_TRUE(store.write_block(PieceIndex{0}, kBlock, piece_bytes(0).substr(kBlock)).ok());
    EXPECT_FALSE(store.verify(PieceIndex{0}, bad + std::string(piece_bytes(0).substr(kBlock))));
    EXPECT_FALSE(store.verify(PieceIndex{0}, piece_bytes(0).substr(1)));
    auto verdict = store.verify_piece(PieceIndex{0});
    ASSERT_TRUE(verdict.ok()) << verdict.error().message;
    EXPECT_EQ(*verdict, Verdict::Failed);
    EXPECT_EQ(store.pieces_in_memory(), 0u) << "its bytes are gone";
    EXPECT_EQ(part_bytes(0, kPiece), std::string(kPiece, '\0')) << "nothing touched disk";
    EXPECT_FALSE(store.save_due());
    fetch_piece(store, 0, content_);  // fetched again, correctly
    EXPECT_EQ(part_bytes(0, kPiece), piece_bytes(0));
}

// The single verdict call, as the Downloader makes it: each of its three answers, and a buffer
// that goes back for the next piece whatever the answer.
TEST_F(PieceStoreTest, VerifyPieceSaysPassedFailedOrIoErrorAndAlwaysFreesThePiece) {
    PieceStore store = open_store();
    fetch_piece(store, 0, content_);  // Passed (checked inside)

    std::string bad(piece_bytes(1));
    bad[kBlock + 3] ^= 1;
    ASSERT_TRUE(store.write_block(PieceIndex{1}, 0, std::string_view(bad).substr(0, kBlock)).ok());
    ASSERT_TRUE(
        store.write_block(PieceIndex{1}, kBlock, std::string_view(bad).substr(kBlock)).ok());
    auto failed = store.verify_piece(PieceIndex{1});
    ASSERT_TRUE(failed.ok()) << failed.error().message;
    EXPECT_EQ(*failed, Verdict::Failed);

    // The disk says no: the partial file's descriptor is now read-only.
    net::Fd read_only(::open(store.part_path().c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(read_only.valid());
    ASSERT_EQ(::dup2(read_only.get(), store.fd()), store.fd());
    for (std::uint32_t begin : {0u, kBlock}) {
        ASSERT_TRUE(
            store.write_block(PieceIndex{1}, begin, piece_bytes(1).substr(begin, kBlock)).ok());
    }
    auto io = store.verify_piece(PieceIndex{1});
    ASSERT_FALSE(io.ok()) << "a matching piece that could not be written";
    EXPECT_EQ(io.error().code, Errc::Io);
    EXPECT_THAT(io.error().message, ::testing::HasSubstr(store.part_path()));
    EXPECT_EQ(store.pieces_in_memory(), 0u);
    EXPECT_EQ(part_bytes(kPiece, kPiece), std::string(kPiece, '\0'));
}

TEST_F(PieceStoreTest, RejectsBlocksThatDoNotFit) {
    PieceStore store = open_store();
    std::string block(kBlock, 'x');
    EXPECT_FALSE(store.write_block(PieceIndex{3}, 0, block).ok()) << "no such piece";
    EXPECT_FALSE(store.write_block(PieceIndex{0}, 1, block).ok()) << "not block aligned";
    EXPECT_FALSE(store.write_block(PieceIndex{0}, 2 * kBlock, block).ok()) << "past the piece";
    EXPECT_FALSE(store.write_block(PieceIndex{0}, 0, block.substr(1)).ok()) << "short block";
    EXPECT_FALSE(store.write_block(PieceIndex{2}, kBlock, block).ok()) << "tail is 100 bytes";
    EXPECT_EQ(store.write_block(PieceIndex{0}, 1, block).error().code, Errc::Protocol);
    EXPECT_EQ(store.pieces_in_memory(), 0u) << "nothing was taken in";
}

TEST_F(PieceStoreTest, ResumesVerifiedPiecesAfterReopening) {
    {
        PieceStore store = open_store();
        fetch_piece(store, 0, content_);
        fetch_piece(store, 2, content_);
        ASSERT_TRUE(store.save_state(verified_).ok());
        EXPECT_TRUE(exists(dest_ + ".part.state"));
    }
    PieceStore store = open_store();
    EXPECT_TRUE(verified_.has(0));
    EXPECT_FALSE(verified_.has(1));
    EXPECT_TRUE(verified_.has(2));
    EXPECT_TRUE(store.take_resumed().none()) << "handed over once; the store keeps no copy";
    EXPECT_EQ(part_bytes(0, kBlock), piece_bytes(0).substr(0, kBlock));
}

TEST_F(PieceStoreTest, ASaveIsDueEveryFewPiecesAndASnapshotCanBeWrittenElsewhere) {
    const std::uint32_t every = PieceStore::kSaveEveryPieces;
    content_ = random_bytes(std::size_t{every + 2} * kPiece, 5);
    info_ = info_for(content_, kPiece);
    {
        PieceStore store = open_store();
        for (std::uint32_t i = 0; i < every; ++i) {
            EXPECT_FALSE(store.save_due()) << "before piece " << i;
            fetch_piece(store, i, content_);
        }
        ASSERT_TRUE(store.save_due());
        auto snapshot = store.snapshot(verified_);
        EXPECT_FALSE(store.save_due());
        fetch_piece(store, every, content_);  // not in the snapshot
        EXPECT_FALSE(store.save_due());
        ASSERT_TRUE(PieceStore::write_state(snapshot).ok());  // as a worker would, later
    }
    PieceStore store = open_store();
    EXPECT_EQ(verified_.count(), every);
    EXPECT_FALSE(verified_.has(every));
}

TEST_F(PieceStoreTest, AFreshDownloadHasItsStateFromTheStart) {
    {
        PieceStore store = open_store();
        ASSERT_TRUE(exists(dest_ + ".part.state")) << "written before open returns";
        auto state = proto::decode(read_file(dest_ + ".part.state"));
        ASSERT_TRUE(state.ok());
        EXPECT_EQ(state->get_string("info_hash"), std::string_view(digest_bytes(info_.info_hash)));
        EXPECT_EQ(state->get_string("verified"), std::string_view(Bitfield(3).to_bytes()));
        EXPECT_FALSE(store.save_due());
        fetch_piece(store, 1, content_);
        EXPECT_FALSE(store.save_due()) << "the next state after kSaveEveryPieces pieces";
    }  // as if killed: the piece was never saved
    PieceStore store = open_store();
    EXPECT_TRUE(verified_.none()) << "resumed, with the piece to be fetched again";
    for (std::uint32_t i = 0; i < 3; ++i) fetch_piece(store, i, content_);
    ASSERT_TRUE(store.finish().ok());
    EXPECT_EQ(read_file(dest_), content_);
    EXPECT_FALSE(exists(dest_ + ".part.state"));
}

TEST_F(PieceStoreTest, AFreshDownloadKilledBeforeAnyPieceResumesInsteadOfBeingRefused) {
    { PieceStore store = open_store(); }  // created, then killed before a single piece
    ASSERT_TRUE(exists(dest_ + ".part"));
    auto reopened = PieceStore::open(dest_, info_);
    ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    EXPECT_TRUE(reopened->take_resumed().none());
    EXPECT_EQ(std::filesystem::file_size(dest_ + ".part"), content_.size());
}

// Every refusal below leaves the files exactly as they were and creates nothing.
class PieceStoreRefusalTest : public PieceStoreTest {
protected:
    std::string part_ = dest_ + ".part";
    std::string state_ = dest_ + ".part.state";
    std::string victim_ = dir_.file("victim.conf");

    void SetUp() override { std::ofstream(victim_) << "precious settings\n"; }

    // A download of `content_` with piece 0 verified and saved, then closed.
    void leave_partial_download() {
        PieceStore store = open_store();
        fetch_piece(store, 0, content_);
        ASSERT_TRUE(store.save_state(verified_).ok());
    }

    Error refused() {
        auto store = PieceStore::open(dest_, info_);
        EXPECT_FALSE(store.ok());
        if (store.ok()) return make_error(Errc::Internal, "opened");
        EXPECT_EQ(store.error().code, Errc::AlreadyExists) << store.error().message;
        EXPECT_FALSE(exists(dest_));
        return store.error();
    }

    // What open() says of a partial or state file that is a symbolic link.
    static std::string symlink_refusal(const std::string& path) {
        return path +
               " is a symbolic link, which a download never follows; move it away or choose "
               "another destination";
    }

    void expect_victim_untouched() const { EXPECT_EQ(read_file(victim_), "precious settings\n"); }
};

TEST_F(PieceStoreRefusalTest, ASymlinkedPartialFileIsNeverFollowed) {
    ASSERT_EQ(::symlink(victim_.c_str(), part_.c_str()), 0);
    EXPECT_EQ(refused().message, symlink_refusal(part_));
    expect_victim_untouched();
    EXPECT_TRUE(std::filesystem::is_symlink(part_));
    EXPECT_FALSE(exists(state_));
}

TEST_F(PieceStoreRefusalTest, ASymlinkedPartialFileIsRefusedEvenBesideAMatchingState) {
    leave_partial_download();
    ASSERT_EQ(::unlink(part_.c_str()), 0);
    ASSERT_EQ(::symlink(victim_.c_str(), part_.c_str()), 0);
    const std::string state = read_file(state_);
    EXPECT_THAT(refused().message, ::testing::HasSubstr("is a symbolic link"));
    expect_victim_untouched();
    EXPECT_EQ(read_file(state_), state);
}

TEST_F(PieceStoreRefusalTest, ASymlinkedStateFileIsNeverFollowed) {
    leave_partial_download();
    const std::string part = read_file(part_);
    ASSERT_EQ(::unlink(state_.c_str()), 0);
    ASSERT_EQ(::symlink(victim_.c_str(), state_.c_str()), 0);
    EXPECT_EQ(refused().message, symlink_refusal(state_));
    expect_victim_untouched();
    EXPECT_EQ(read_file(part_), part);
}

TEST_F(PieceStoreRefusalTest, AForeignPartialFileWithoutStateIsLeftAlone) {
    const std::string mine(content_.size(), 'm');  // even of the very same size
    std::ofstream(part_, std::ios::binary) << mine;
    EXPECT_EQ(refused().message,
              part_ + " already exists and is not a download of file we can resume (there is no " +
                  state_ + "); move it away or choose another destination");
    EXPECT_EQ(read_file(part_), mine);
    EXPECT_FALSE(exists(state_));
}

TEST_F(PieceStoreRefusalTest, APartialFileWhoseStateIsForAnotherFileIsLeftAlone) {
    leave_partial_download();
    const std::string part = read_file(part_);
    const std::string state = read_file(state_);
    std::string other = content_;
    other[0] ^= 1;  // same size, another info hash
    info_ = info_for(other, kPiece);
    EXPECT_EQ(refused().message,
              part_ + " already exists and is not a download of file we can resume (" + state_ +
                  " is for another file); move it away or choose another destination");
    EXPECT_EQ(read_file(part_), part);
    EXPECT_EQ(read_file(state_), state);
}

TEST_F(PieceStoreRefusalTest, ADamagedStateOrAResizedPartialFileIsLeftAlone) {
    leave_partial_download();
    std::ofstream(state_, std::ios::trunc) << "d4:junk";
    const std::string part = read_file(part_);
    EXPECT_THAT(refused().message, ::testing::HasSubstr("(" + state_ + " is damaged)"));
    EXPECT_EQ(read_file(part_), part);
    EXPECT_EQ(read_file(state_), "d4:junk");

    ASSERT_EQ(::unlink(state_.c_str()), 0);
    ASSERT_EQ(::unlink(part_.c_str()), 0);
    leave_partial_download();
    ASSERT_EQ(::truncate(part_.c_str(), 10), 0);
    EXPECT_THAT(refused().message, ::testing::HasSubstr("(its size is not that of file)"));
    EXPECT_EQ(std::filesystem::file_size(part_), 10u);
    EXPECT_TRUE(exists(state_));
}

TEST_F(PieceStoreRefusalTest, AHardLinkedPartialFileIsLeftAlone) {
    leave_partial_download();
    const std::string part = read_file(part_);
    ASSERT_EQ(::unlink(victim_.c_str()), 0);
    ASSERT_EQ(::link(part_.c_str(), victim_.c_str()), 0);
    EXPECT_THAT(refused().message, ::testing::HasSubstr("(it has other hard links)"));
    EXPECT_EQ(read_file(victim_), part);
}

TEST_F(PieceStoreRefusalTest, AStrayStateWithoutPartialFileIsLeftAlone) {
    std::ofstream(state_) << "not ours";
    EXPECT_EQ(refused().message,
              state_ + " exists but " + part_ +
                  " does not, so there is no download of file to resume; move it away or choose "
                  "another destination");
    EXPECT_EQ(read_file(state_), "not ours");
    EXPECT_FALSE(exists(part_));

    ASSERT_EQ(::unlink(state_.c_str()), 0);
    ASSERT_EQ(::symlink(victim_.c_str(), state_.c_str()), 0);
    EXPECT_THAT(refused().message, ::testing::HasSubstr(state_ + " is a symbolic link"));
    expect_victim_untouched();
    EXPECT_FALSE(exists(part_));
}

TEST_F(PieceStoreRefusalTest, APartialFileInUseByAnotherDownloadIsLeftAlone) {
    leave_partial_download();
    PieceStore first = open_store();
    EXPECT_EQ(refused().message,
              part_ +
                  " is in use by another download; wait for it to end or choose another "
                  "destination");
    for (std::uint32_t i : {1u, 2u}) fetch_piece(first, i, content_);  // the first goes on
    ASSERT_TRUE(first.finish().ok());
    EXPECT_EQ(read_file(dest_), content_);
}

TEST_F(PieceStoreRefusalTest, AStateWriteNeverFollowsAPlantedLink) {
    PieceStore store = open_store();
    fetch_piece(store, 0, content_);
    ASSERT_EQ(::symlink(victim_.c_str(), (state_ + ".tmp").c_str()), 0);  // the old fixed name
    ASSERT_TRUE(store.save_state(verified_).ok());
    expect_victim_untouched();
    EXPECT_FALSE(std::filesystem::is_symlink(state_));
}

TEST_F(PieceStoreTest, FinishMovesTheFileIntoPlaceAndRemovesTheState) {
    PieceStore store = open_store();
    for (std::uint32_t i = 0; i < 3; ++i) fetch_piece(store, i, content_);
    ASSERT_TRUE(store.save_state(verified_).ok());
    EXPECT_TRUE(verified_.all());
    ASSERT_TRUE(store.finish().ok());
    EXPECT_TRUE(store.is_finished());
    EXPECT_EQ(read_file(dest_), content_);
    EXPECT_FALSE(exists(dest_ + ".part"));
    EXPECT_FALSE(exists(dest_ + ".part.state"));
}

TEST_F(PieceStoreTest, FinishNeverOverwritesAnExistingDestination) {
    PieceStore store = open_store();
    for (std::uint32_t i = 0; i < 3; ++i) fetch_piece(store, i, content_);
    std::ofstream(dest_) << "precious";
    auto finished = store.finish();
    ASSERT_FALSE(finished.ok());
    EXPECT_EQ(finished.error().code, Errc::AlreadyExists);
    EXPECT_EQ(read_file(dest_), "precious");
    EXPECT_EQ(read_file(dest_ + ".part"), content_) << "the download is kept";
}

TEST_F(PieceStoreTest, OpenRefusesAnExistingDestination) {
    std::ofstream(dest_) << "precious";
    auto store = PieceStore::open(dest_, info_);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code, Errc::AlreadyExists);
    EXPECT_FALSE(exists(dest_ + ".part"));
}

TEST_F(PieceStoreTest, AZeroLengthFileIsCompleteAndFinishes) {
    content_.clear();
    info_ = info_for(content_, kPiece);
    PieceStore store = open_store();
    EXPECT_TRUE(verified_.all());
    ASSERT_TRUE(store.save_state(verified_).ok());
    ASSERT_TRUE(store.finish().ok());
    EXPECT_TRUE(exists(dest_));
    EXPECT_EQ(std::filesystem::file_size(dest_), 0u);
    EXPECT_FALSE(exists(dest_ + ".part.state"));
}

}  // namespace
}  // namespace gs::peer
