// Downloads: the registry of a user's downloads and its record on disk — a download started in
// one run is resumed at the next login, one the caller refuses is not (with the reason said),
// logout and login pause and resume without starting anything twice, and leaving a group
// forgets its downloads. No tracker is needed: the tracker client is never started.
#include "peer/downloads.hpp"

#include "shared/config.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/test_content.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gs::peer {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::int64_t kPieceLength = 16 * 1024;

class DownloadsTest : public ::testing::Test {
protected:
    DownloadsTest()
        : workers_(loop_, 1),
          tracker_(loop_, {TrackerEntry{{"127.0.0.1", 1}, 1, {}}},
                   {"tracker_info.txt", std::move(KnownTrackers::parse("", "known")).value()}, {},
                   /*shuffle_seed=*/1),
          info_(test::info_for(test::random_bytes(3 * kPieceLength, 7), kPieceLength)),
          dest_(dir_.file("out")) {}

    // A registry as one run of the client has it; lines it says go to said_.
    std::unique_ptr<Downloads> registry() {
        Downloads::Hooks hooks{
            .say = [this](std::string_view line) { said_.emplace_back(line); },
            .serve_partial =
                [this](const Downloader& d) {
                    served_.push_back(d.store().part_path());
                    return Status();
                },
            .on_piece_verified = [](const Sha1Digest&, PieceIndex) {},
            .on_complete = [](const Downloader&) {},
        };
        return std::make_unique<Downloads>(loop_, workers_, tracker_, wire::random_peer_id(),
                                           dir_.path(), std::move(hooks));
    }

    // One run of the client: alice starts downloading info_ from g1 into dest_, and the client
    // ends without a logout. What it said is forgotten.
    void run_that_starts_a_download() {
        auto downloads = registry();
        downloads->login("alice", admit_all);
        ASSERT_NE(downloads->start("g1", info_, dest_, nullptr), nullptr);
        said_.clear();
        served_.clear();
    }

    // A new run in which `user` logs in: nothing is resumed, nothing said.
    void expect_nothing_resumed_for(const std::string& user) {
        auto downloads = registry();
        downloads->login(user, admit_all);
        EXPECT_THAT(said_, IsEmpty());
        EXPECT_THAT(downloads->all(), IsEmpty());
    }

    static std::optional<std::string> admit_all(const std::string&, const proto::InfoDict&) {
        return std::nullopt;
    }

    // The tracker's get_file reply, without seeders.
    static proto::Value get_file_reply() {
        return proto::Value(proto::Dict{{"peers", proto::List{}}});
    }

    net::EventLoop loop_;
    WorkerPool workers_;
    TrackerClient tracker_;
    test::TempDir dir_;
    proto::InfoDict info_;
    std::string dest_;
    std::vector<std::string> said_;
    std::vector<std::string> served_;
};

TEST_F(DownloadsTest, ADownloadStartedInOneRunIsResumedAtTheNextLogin) {
    {
        auto downloads = registry();
        downloads->login("alice", admit_all);
        const proto::Value reply = get_file_reply();
        ASSERT_NE(downloads->start("g1", info_, dest_, &reply), nullptr);
        EXPECT_THAT(said_, ElementsAre("downloading file from group g1 to " + dest_ +
                                       "  (48.0 KiB, 0 peer(s) online)"));
        EXPECT_THAT(served_, ElementsAre(dest_ + ".part"));
        EXPECT_TRUE(downloads->any_running());
    }  // the client ends without a logout

    said_.clear();
    served_.clear();
    auto downloads = registry();
    downloads->login("alice", admit_all);
    EXPECT_THAT(said_, ElementsAre("resuming download of file from group g1 to " + dest_ +
                                   "  (0.0% verified)"));
    EXPECT_THAT(served_, ElementsAre(dest_ + ".part"));
    ASSERT_EQ(downloads->all().size(), 1u);
    EXPECT_EQ(downloads->all()[0]->group(), "g1");
    EXPECT_EQ(downloads->in_progress(info_.info_hash), downloads->all()[0].get());
    EXPECT_EQ(downloads->unfinished_to(dest_), downloads->all()[0].get());
}

TEST_F(DownloadsTest, ARecordedDownloadTheCallerRefusesIsNotResumedAndTheReasonIsSaid) {
    run_that_starts_a_download();
    auto downloads = registry();
    downloads->login("alice", [](const std::string& group, const proto::InfoDict& info) {
        return std::optional<std::string>(info.name + " is shared in " + group + " already");
    });
    EXPECT_THAT(said_, ElementsAre("not resuming the download of file to " + dest_ +
                                   ": file is shared in g1 already"));
    EXPECT_THAT(downloads->all(), IsEmpty());
}

TEST_F(DownloadsTest, TheRecordIsPerUser) {
    run_that_starts_a_download();
    expect_nothing_resumed_for("bob");
}

TEST_F(DownloadsTest, LogoutPausesAndLoginResumesWithoutStartingAnythingTwice) {
    auto downloads = registry();
    downloads->login("alice", admit_all);
    Downloader* d = downloads->start("g1", info_, dest_, nullptr);
    ASSERT_NE(d, nullptr);
    downloads->logout();
    EXPECT_EQ(d->state(), Downloader::State::Paused);
    EXPECT_FALSE(downloads->any_running());

    said_.clear();
    served_.clear();
    downloads->login("alice", admit_all);
    EXPECT_EQ(d->state(), Downloader::State::Downloading);
    EXPECT_THAT(said_, IsEmpty());  // resumed in place, not restored from the record again
    EXPECT_THAT(served_, ElementsAre(dest_ + ".part"));
    EXPECT_EQ(downloads->all().size(), 1u);
}

TEST_F(DownloadsTest, LeavingAGroupForgetsItsDownloadsAndKeepsTheOthers) {
    auto downloads = registry();
    downloads->login("alice", admit_all);
    ASSERT_NE(downloads->start("g1", info_, dest_, nullptr), nullptr);
    auto other = test::info_for(test::random_bytes(kPieceLength, 8), kPieceLength);
    ASSERT_NE(downloads->start("g2", other, dir_.file("other"), nullptr), nullptr);

    said_.clear();
    downloads->leave_group("g1");
    downloads->save();
    EXPECT_THAT(said_, ElementsAre("stopped downloading file: you left group g1 (the partial "
                                   "file stays at " +
                                   dest_ + ".part)"));
    ASSERT_EQ(downloads->all().size(), 1u);
    EXPECT_EQ(downloads->all()[0]->group(), "g2");
    EXPECT_EQ(downloads->in_progress(info_.info_hash), nullptr);

    downloads.reset();
    said_.clear();
    downloads = registry();
    downloads->login("alice", admit_all);
    ASSERT_EQ(downloads->all().size(), 1u);
    EXPECT_EQ(downloads->all()[0]->group(), "g2");
}

TEST_F(DownloadsTest, AnUnreadableRecordRestoresNothing) {
    std::ofstream(dir_.file("alice.downloads")) << "not bencode";
    expect_nothing_resumed_for("alice");
}

TEST_F(DownloadsTest, NothingIsRecordedWhileLoggedOut) {
    auto downloads = registry();
    ASSERT_NE(downloads->start("g1", info_, dest_, nullptr), nullptr);
    EXPECT_FALSE(std::filesystem::exists(dir_.file(".downloads")));
    downloads->login("alice", admit_all);
    EXPECT_FALSE(std::filesystem::exists(dir_.file("alice.downloads")));
}

}  // namespace
}  // namespace gs::peer
