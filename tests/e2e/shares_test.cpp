// Shares end to end: one file (one info hash) shared in several groups, and downloads of what
// the client already shares or already downloads — the client's Shares are keyed by info hash,
// so these must neither replace a complete share by a partial one nor let one group's
// stop_share or leave_group stop another group's seeding (docs/protocol.md §1.3).
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

constexpr Duration kDownloadTimeout{90000};

class SharesTest : public E2eTest {
protected:
    void share(Client& c, const fs::path& path, const std::string& group) {
        auto lines = c.run("upload_file " + path.string() + " " + group, Duration{60000});
        ASSERT_EQ(lines.size(), 1u) << c.name();
        EXPECT_THAT(lines[0],
                    StartsWith("shared " + path.filename().string() + " in group " + group))
            << c.name();
    }

    // Starts a download on `c`, waits for its "[C]" line and compares the bytes.
    void download(Client& c, const std::string& group, const std::string& name,
                  const fs::path& dest, const std::string& content) {
        auto started = c.run("download_file " + group + " " + name + " " + dest.string());
        ASSERT_EQ(started.size(), 1u);
        ASSERT_THAT(started[0], StartsWith("downloading " + name + " from group " + group))
            << c.name();
        c.process().wait_for_line(
            "^" + regex_escape("[C] [" + group + "] " + name + "  -> " + dest.string()) + "$",
            kDownloadTimeout);
        EXPECT_TRUE(read_file(dest) == content) << dest << ": downloaded bytes differ";
    }

    // The same user on a fresh client process over the same data directory.
    Client& restart(Client& c, const std::string& user) {
        c.quit();
        clients_.push_back(std::make_unique<Client>(dir_, tracker_, c.name()));
        Client& again = *clients_.back();
        EXPECT_THAT(again.run("login " + user + " secret"), ElementsAre("logged in as " + user))
            << "shares should come back at login without complaint";
        return again;
    }

    static bool logged(Client& c, const std::string& text) {
        for (const auto& l : c.process().stderr_lines()) {
            if (l.find(text) != std::string::npos) return true;
        }
        return false;
    }
};

// Bug A: a download of a file the client already seeds used to replace its complete share by an
// empty partial one, for good; a second download of one info hash shared one partial share.
TEST_F(SharesTest, DownloadingWhatYouSeedIsRefusedAndTheSeedingGoesOn) {
    auto [a, b] = in_group("g1", "alice", "bob");
    const std::string content = random_bytes(5 * kPiece + 77, 11);
    const fs::path src = dir_ / "src" / "m.bin";
    write_file(src, content);
    share(a, src, "g1");

    fs::create_directories(dir_ / "dl");
    const fs::path self = dir_ / "dl" / "self.bin";
    EXPECT_THAT(a.run("download_file g1 m.bin " + self.string()),
                ElementsAre("error: you already share m.bin in g1 (from " + src.string() +
                            "); nothing to download"));
    EXPECT_FALSE(fs::exists(self));
    EXPECT_FALSE(fs::exists(self.string() + ".part"));
    EXPECT_THAT(a.run("show_downloads"), ElementsAre("(no downloads in this session)"));
    EXPECT_THAT(b.run("list_files g1"), ElementsAre("m.bin  2.5 MiB  seeders=1  online=1"));

    // Bob's download stays at 0% while alice is frozen: a second one is refused meanwhile.
    const fs::path first = dir_ / "b1.bin";
    a.process().signal(SIGSTOP);
    auto started = b.run("download_file g1 m.bin " + first.string());
    EXPECT_THAT(started,
                ElementsAre(StartsWith("downloading m.bin from group g1 to " + first.string())));
    EXPECT_THAT(b.run("download_file g1 m.bin " + (dir_ / "b2.bin").string()),
                ElementsAre("error: m.bin is already being downloaded to " + first.string()));
    EXPECT_FALSE(fs::exists(dir_ / "b2.bin.part"));
    a.process().signal(SIGCONT);
    b.process().wait_for_line("^" + regex_escape("[C] [g1] m.bin  -> " + first.string()) + "$",
                              kDownloadTimeout);
    EXPECT_TRUE(read_file(first) == content) << "downloaded bytes differ";
    EXPECT_FALSE(logged(a, "handshake for a file we do not share"));

    // The complete share was saved untouched: after a restart alice serves it again.
    Client& a2 = restart(a, "alice");
    EXPECT_THAT(a2.run("download_file g1 m.bin " + self.string()),
                ElementsAre("error: you already share m.bin in g1 (from " + src.string() +
                            "); nothing to download"));
    b.quit();  // bob seeds it too now; only alice should serve the next member
    Client& c = logged_in("carol");
    join_group(a2, c, "carol", "g1");
    ASSERT_TRUE(eventually([&] {
        auto l = c.run("list_files g1");
        // online=1: alice; bob has quit (alice's old address may count as a seeder too).
        return l.size() == 1 && l[0].starts_with("m.bin  2.5 MiB  seeders=") &&
               l[0].ends_with("  online=1");
    }));
    download(c, "g1", "m.bin", dir_ / "c.bin", content);
}

// Bug B: one info hash shared in two groups is served in both until its last group goes, also
// after a restart; stop_share and leave_group of one group leave the other one served.
TEST_F(SharesTest, AFileSharedInTwoGroupsIsServedUntilItsLastGroupGoes) {
    Client& a = logged_in("alice");
    Client& b = logged_in("bob");
    Client& c = logged_in("carol");
    make_group(a, "g1", {&b}, {"bob"});
    make_group(c, "g2", {&a}, {"alice"});
    const std::string content = random_bytes(4 * kPiece + 3, 12);
    const fs::path src = dir_ / "src" / "m.bin";
    write_file(src, content);
    share(a, src, "g1");
    share(a, src, "g2");

    // Both groups come back at login.
    Client& a2 = restart(a, "alice");
    for (auto [member, group] : {std::pair{&b, "g1"}, std::pair{&c, "g2"}}) {
        EXPECT_TRUE(eventually([&] {
            auto l = member->run(std::string("list_files ") + group);
            return l.size() == 1 && l[0].starts_with("m.bin  2.0 MiB  seeders=") &&
                   l[0].ends_with("  online=1");
        })) << group;
    }
    EXPECT_THAT(a2.run("download_file g2 m.bin " + (dir_ / "x.bin").string()),
                ElementsAre("error: you already share m.bin in g1, g2 (from " + src.string() +
                            "); nothing to download"));

    EXPECT_THAT(a2.run("stop_share g2 m.bin"),
                ElementsAre("stopped sharing m.bin in group g2 (still shared in g1)"));
    EXPECT_THAT(c.run("list_files g2"), ElementsAre("(no files shared in group g2)"));
    download(b, "g1", "m.bin", dir_ / "b1.bin", content);
    // Bob now seeds it too: he stops, so that alice alone serves his next download.
    b.must("stop_share g1 m.bin", "stopped sharing m.bin in group g1");

    share(a2, src, "g2");
    a2.must("leave_group g2", "left group g2");
    download(b, "g1", "m.bin", dir_ / "b2.bin", content);
    EXPECT_FALSE(logged(a2, "handshake for a file we do not share"));

    // Only g1 is left, after a restart too; stopping it stops the seeding.
    Client& a3 = restart(a2, "alice");
    EXPECT_THAT(a3.run("stop_share g1 m.bin"), ElementsAre("stopped sharing m.bin in group g1"));
    EXPECT_THAT(a3.run("download_file g1 m.bin " + (dir_ / "back.bin").string()),
                ElementsAre(StartsWith("downloading m.bin from group g1 to ")));
    a3.process().wait_for_line(
        "^" + regex_escape("[C] [g1] m.bin  -> " + (dir_ / "back.bin").string()) + "$",
        kDownloadTimeout);
    EXPECT_TRUE(read_file(dir_ / "back.bin") == content);
}

// Bug C: re-sharing an edited file of one's own says what is in the way and what to do.
TEST_F(SharesTest, ReSharingAnEditedFileSaysToStopTheOldOneFirst) {
    Client& a = logged_in("alice");
    create_group(a, "g1");
    const fs::path src = dir_ / "src" / "doc.txt";
    write_file(src, "first version\n");
    share(a, src, "g1");
    write_file(src, "second version, longer\n");
    EXPECT_THAT(a.run("upload_file " + src.string() + " g1"),
                ElementsAre("error: group 'g1' already has a different file named 'doc.txt'; "
                            "you share an older version of it: stop_share g1 doc.txt first"));
    a.must("stop_share g1 doc.txt", "stopped sharing doc.txt in group g1");
    share(a, src, "g1");
}

// A file edited in place after it was shared no longer matches its piece hashes: the seeder
// notices when a peer asks for it, stops sharing it everywhere and says why, and the download
// completes from a member who has the original.
TEST_F(SharesTest, ASeederWhoseFileChangedStopsSharingItAndSaysWhy) {
    auto [a, b, c] = in_group("g", "alice", "bob", "carol");
    const std::string content = random_bytes(3 * kPiece + 5, 11);
    const auto [alices, bobs] = write_copies(dir_.path(), "data.bin", content, "alice", "bob");
    share(a, alices, "g");
    std::string edited = content;
    edited[kPiece + 7] ^= 0x5a;
    write_file(alices, edited);  // same size, new modification time

    const fs::path dest = dir_ / "down" / "data.bin";
    fs::create_directories(dest.parent_path());
    EXPECT_THAT(c.run("download_file g data.bin " + dest.string()),
                ElementsAre(StartsWith("downloading data.bin from group g")));
    a.process().wait_for_line(
        "^" +
        regex_escape(
            "stopped sharing data.bin in group g: " + alices.string() +
            " changed since you shared it; upload_file it again to share the new version") +
        "$");
    // She was its only seeder, so the group has no such file any more.
    EXPECT_TRUE(eventually([&] {
        return c.run("list_files g") == std::vector<std::string>{"(no files shared in group g)"};
    }));

    share(b, bobs, "g");
    c.process().wait_for_line("^" + regex_escape("[C] [g] data.bin  -> " + dest.string()) + "$",
                              kDownloadTimeout);
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
    EXPECT_FALSE(logged(c, "failed its SHA1 check")) << "alice served her edited copy";
}

}  // namespace
}  // namespace gs::e2e
