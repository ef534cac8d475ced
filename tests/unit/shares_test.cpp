// Shares: one share per info hash serving every group it was shared in, partial files never
// replacing complete ones, and the saved file keeping every group (old files with one "group"
// still load). A partial share asks its download which pieces are verified, and asks nothing
// of a download that is gone.
#include "peer/shares.hpp"

#include "peer/download/downloader.hpp"
#include "shared/proto/bencode.hpp"
#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/test_content.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <string>

namespace gs::peer {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SharesTest : public ::testing::Test {
protected:
    // A file of `bytes` in the temp dir and its info dictionary.
    proto::InfoDict file(const std::string& name, const std::string& bytes) {
        std::ofstream(dir_.file(name), std::ios::binary) << bytes;
        auto bencoded = proto::build_info(dir_.file(name), name, 1);
        EXPECT_TRUE(bencoded) << bencoded.error().message;
        auto info = proto::parse_info(*bencoded);
        EXPECT_TRUE(info) << info.error().message;
        return *info;
    }

    test::TempDir dir_;
};

// A download in progress as far as a share can tell: which pieces it says it has.
VerifiedPieces download_with(std::vector<std::uint32_t> pieces) {
    return [pieces](PieceIndex piece) {
        return std::find(pieces.begin(), pieces.end(), piece.value) != pieces.end();
    };
}

TEST_F(SharesTest, OneInfoHashInTwoGroupsIsOneShareServedUntilItsLastGroupGoes) {
    Shares shares;
    auto info = file("m.bin", "some content");
    ASSERT_TRUE(shares.add("g1", info, dir_.file("m.bin")));
    ASSERT_TRUE(shares.add("g2", info, dir_.file("m.bin")));
    ASSERT_TRUE(shares.add("g2", info, dir_.file("m.bin")));  // again: no duplicate group
    ASSERT_EQ(shares.size(), 1u);
    EXPECT_THAT(shares.find(info.info_hash)->groups, ElementsAre("g1", "g2"));
    EXPECT_EQ(shares.find(info.info_hash)->group_list(), "g1, g2");
    EXPECT_NE(shares.find_by_name("g2", "m.bin"), nullptr);

    auto removed = shares.remove("g2", "m.bin");
    ASSERT_TRUE(removed);
    EXPECT_EQ(removed->info_hash, info.info_hash);
    EXPECT_FALSE(removed->last);
    EXPECT_EQ(shares.find_by_name("g2", "m.bin"), nullptr);
    EXPECT_NE(shares.find(info.info_hash), nullptr);
    EXPECT_FALSE(shares.remove("g2", "m.bin"));

    removed = shares.remove("g1", "m.bin");
    ASSERT_TRUE(removed);
    EXPECT_TRUE(removed->last);
    EXPECT_EQ(shares.find(info.info_hash), nullptr);
}

TEST_F(SharesTest, RemoveGroupReturnsOnlyWhatIsNoLongerServed) {
    Shares shares;
    auto both = file("both.bin", "in two groups");
    auto one = file("one.bin", "in one group");
    ASSERT_TRUE(shares.add("g1", both, dir_.file("both.bin")));
    ASSERT_TRUE(shares.add("g2", both, dir_.file("both.bin")));
    ASSERT_TRUE(shares.add("g2", one, dir_.file("one.bin")));
    EXPECT_THAT(shares.remove_group("g2"), ElementsAre(one.info_hash));
    ASSERT_EQ(shares.size(), 1u);
    EXPECT_THAT(shares.find(both.info_hash)->groups, ElementsAre("g1"));
}

TEST_F(SharesTest, APartialFileNeverReplacesACompleteOne) {
    Shares shares;
    auto info = file("m.bin", "complete content");
    ASSERT_TRUE(shares.add("g1", info, dir_.file("m.bin")));
    std::ofstream(dir_.file("m.bin.part")) << "";
    auto st = shares.add("g1", info, dir_.file("m.bin.part"), download_with({}));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::AlreadyExists);
    const Share* s = shares.find(info.info_hash);
    EXPECT_EQ(s->path, dir_.file("m.bin"));
    EXPECT_EQ(s->partial, nullptr);
}

TEST_F(SharesTest, ASecondDownloadOfOneFileNeverTakesOverTheFirstOnesPartialShare) {
    Shares shares;
    auto info = file("m.bin", "downloaded twice");
    std::ofstream(dir_.file("a.part")) << "";
    std::ofstream(dir_.file("b.part")) << "";
    ASSERT_TRUE(shares.add("g1", info, dir_.file("a.part"), download_with({0})));
    // The same download again.
    ASSERT_TRUE(shares.add("g1", info, dir_.file("a.part"), download_with({0})));
    auto st = shares.add("g2", info, dir_.file("b.part"), download_with({}));
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::AlreadyExists);
    EXPECT_EQ(st.error().message, "m.bin is already being downloaded to " + dir_.file("a.part"));
    // The first download's share is as it was: it asks that download, its group only, so it goes
    // with it.
    const Share* s = shares.find(info.info_hash);
    EXPECT_EQ(s->path, dir_.file("a.part"));
    EXPECT_TRUE(s->has_piece(0)) << "asked the first download, not the second";
    EXPECT_THAT(s->groups, ElementsAre("g1"));
    EXPECT_THAT(shares.remove_group("g1"), ElementsAre(info.info_hash));
}

TEST_F(SharesTest, ACompleteFileReplacesThePartialOneAndKeepsItsGroups) {
    Shares shares;
    auto info = file("m.bin", "downloaded content");
    std::ofstream(dir_.file("m.bin.part")) << "";
    ASSERT_TRUE(shares.add("g1", info, dir_.file("m.bin.part"), download_with({})));
    EXPECT_FALSE(shares.find(info.info_hash)->has_piece(0));
    ASSERT_TRUE(shares.add("g2", info, dir_.file("m.bin")));
    const Share* s = shares.find(info.info_hash);
    EXPECT_EQ(s->path, dir_.file("m.bin"));
    EXPECT_EQ(s->partial, nullptr);
    EXPECT_TRUE(s->has_piece(0));
    EXPECT_THAT(s->groups, ElementsAre("g1", "g2"));
}

TEST_F(SharesTest, SavedSharesComeBackWithEveryGroup) {
    auto info = file("m.bin", "saved content");
    {
        Shares shares;
        ASSERT_TRUE(shares.add("g1", info, dir_.file("m.bin")));
        ASSERT_TRUE(shares.add("g2", info, dir_.file("m.bin")));
        shares.find(info.info_hash)->open = true;
        ASSERT_TRUE(shares.save(dir_.file("alice.shares")));
    }
    Shares loaded;
    std::vector<std::string> dropped;
    ASSERT_TRUE(loaded.load(dir_.file("alice.shares"), dropped));
    EXPECT_THAT(dropped, IsEmpty());
    ASSERT_EQ(loaded.size(), 1u);
    const Share* s = loaded.find(info.info_hash);
    EXPECT_THAT(s->groups, ElementsAre("g1", "g2"));
    EXPECT_TRUE(s->open);
    EXPECT_EQ(s->path, dir_.file("m.bin"));
}

TEST_F(SharesTest, AFileSavedWithOneGroupStillLoads) {
    auto info = file("m.bin", "old format");
    Shares current;
    ASSERT_TRUE(current.add("g1", info, dir_.file("m.bin")));
    const std::int64_t mtime = current.find(info.info_hash)->mtime_ns;
    proto::List items;
    items.push_back(proto::Dict{{"group", "g1"},
                                {"info", info.bencoded},
                                {"path", dir_.file("m.bin")},
                                {"mtime_ns", mtime},
                                {"open", 0}});
    std::ofstream(dir_.file("old.shares"), std::ios::binary)
        << proto::encode(proto::Value(std::move(items)));

    Shares loaded;
    std::vector<std::string> dropped;
    ASSERT_TRUE(loaded.load(dir_.file("old.shares"), dropped));
    EXPECT_THAT(dropped, IsEmpty());
    ASSERT_NE(loaded.find(info.info_hash), nullptr);
    EXPECT_THAT(loaded.find(info.info_hash)->groups, ElementsAre("g1"));
}

TEST_F(SharesTest, AChangedFileIsDroppedWithAllItsGroups) {
    auto info = file("m.bin", "before");
    {
        Shares shares;
        ASSERT_TRUE(shares.add("g1", info, dir_.file("m.bin")));
        ASSERT_TRUE(shares.add("g2", info, dir_.file("m.bin")));
        ASSERT_TRUE(shares.save(dir_.file("alice.shares")));
    }
    std::ofstream(dir_.file("m.bin"), std::ios::binary) << "after!";  // same size
    struct timespec later[2] = {{0, UTIME_OMIT}, {std::time(nullptr) + 10, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, dir_.file("m.bin").c_str(), later, 0), 0);
    Shares loaded;
    std::vector<std::string> dropped;
    ASSERT_TRUE(loaded.load(dir_.file("alice.shares"), dropped));
    EXPECT_EQ(loaded.size(), 0u);
    EXPECT_THAT(dropped, ElementsAre("[g1, g2] m.bin (" + dir_.file("m.bin") + ")"));
}

// A real download behind a partial share: the share serves what the download has verified, as
// it is verified, and nothing once the download is gone (the share outlives it, as on logout).
class SharedDownloadTest : public ::testing::Test {
protected:
    static constexpr std::uint32_t kBlock = wire::kBlockBytes;
    static constexpr std::uint32_t kPiece = 2 * kBlock;

    void SetUp() override {
        testing::internal::CaptureStderr();  // the SHA1 failure is logged
        auto store = PieceStore::open(dir_.file("file"), info_);
        ASSERT_TRUE(store.ok()) << store.error().message;
        download_ = std::make_unique<Downloader>(loop_, workers_, "g", std::move(store).value(),
                                                 wire::random_peer_id(), Downloader::Callbacks{});
        session_ = std::make_unique<PeerSession>(*download_, PeerId{1}, net::Endpoint{});
        Bitfield all(info_.piece_count());
        all.set_all();
        download_->on_peer_bitfield(*session_, all);
        ASSERT_TRUE(
            shares_.add("g", info_, download_->store().part_path(), download_->verified_pieces()));
    }
    void TearDown() override {
        session_.reset();
        download_.reset();
        testing::internal::GetCapturedStderr();
    }

    // The peer delivers every block it is asked for, from `bytes`.
    void deliver(const std::string& bytes) {
        for (const BlockRequest& r : download_->picker().pick(session_->id(), 16)) {
            std::string_view block = std::string_view(bytes).substr(
                std::size_t{r.piece.value} * kPiece + r.begin, r.length);
            download_->on_block(*session_, r.piece, r.begin, block);
        }
        // Complete pieces are checked on a worker: wait for their verdicts.
        ASSERT_TRUE(test_support::run_until(
            loop_, [&] { return download_->pieces_being_verified() == 0; }));
    }

    const Share& share() const { return *shares_.find(info_.info_hash); }

    std::string content_ = test::random_bytes(2 * kPiece + 100, 3);
    proto::InfoDict info_ = test::info_for(content_, kPiece);
    net::EventLoop loop_;
    WorkerPool workers_{loop_, 1};
    test::TempDir dir_;
    Shares shares_;
    std::unique_ptr<Downloader> download_;
    std::unique_ptr<PeerSession> session_;
};

TEST_F(SharedDownloadTest, TheShareServesWhatItsDownloadHasVerifiedAsItIsVerified) {
    for (std::uint32_t i = 0; i < 3; ++i) EXPECT_FALSE(share().has_piece(i));
    std::string corrupt = content_;
    corrupt[5] ^= 1;  // in piece 0
    deliver(corrupt);
    EXPECT_FALSE(share().has_piece(0)) << "failed its SHA1 check";
    EXPECT_FALSE(download_->has_piece(PieceIndex{0}));
    EXPECT_TRUE(share().has_piece(1));
    EXPECT_TRUE(share().has_piece(2));
    EXPECT_EQ(download_->has_piece(PieceIndex{1}), share().has_piece(1));
    EXPECT_TRUE(download_->picker().is_barred(session_->id(), PieceIndex{0}));
}

TEST_F(SharedDownloadTest, TheShareOfADownloadThatIsGoneServesNothingAndDoesNotDangle) {
    deliver(content_);
    ASSERT_TRUE(share().has_piece(0));
    const VerifiedPieces kept = download_->verified_pieces();
    session_.reset();
    download_.reset();
    ASSERT_NE(shares_.find(info_.info_hash), nullptr) << "the share outlives its download";
    for (std::uint32_t i = 0; i < 3; ++i) EXPECT_FALSE(share().has_piece(i)) << "piece " << i;
    EXPECT_FALSE(kept(PieceIndex{0})) << "nor does any copy of the question";
}

}  // namespace
}  // namespace gs::peer
