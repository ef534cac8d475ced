// File sharing end to end: upload_file, list_files, stop_share, download_file and
// show_downloads with real tracker and client processes, and the download engine under the
// conditions a swarm meets — several seeders, a frozen one, corrupted copies, the original
// seeders gone, a downloader killed mid-way (docs/protocol.md §1.3, issue #3).
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Flips one byte in the middle of piece `piece` of the file, keeping its size and modification
// time, as silent disk corruption would.
void corrupt_piece(const fs::path& path, std::size_t piece) {
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const off_t at = static_cast<off_t>(piece * kPiece + kPiece / 2);
    char c = 0;
    ASSERT_EQ(::pread(fd, &c, 1, at), 1);
    c = static_cast<char>(c ^ 0x5a);
    ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
    ::close(fd);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

// Whether the resume state at `path` records at least one verified piece. The state is renamed
// into place whole, so a read sees one version: d9:info_hash20:<hash>8:verified<n>:<bitfield>e.
bool state_records_a_piece(const fs::path& path) {
    const std::string text = read_file(path);
    const std::string key = "8:verified";
    auto at = text.find(key);
    if (at == std::string::npos) return false;
    at += key.size();
    auto colon = text.find(':', at);
    if (colon == std::string::npos) return false;
    const std::size_t n = std::stoul(text.substr(at, colon - at));
    if (colon + 1 + n > text.size()) return false;
    const std::string bits = text.substr(colon + 1, n);
    return bits.find_first_not_of('\0') != std::string::npos;
}

// The state letter of a process (/proc/PID/stat: 'T' when stopped by a signal), or 0.
char process_state(pid_t pid) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto paren = stat.rfind(')');  // the name in parentheses may hold spaces
    return paren == std::string::npos || paren + 2 >= stat.size() ? '\0' : stat[paren + 2];
}

class FileSharingTest : public E2eTest {
protected:
    // Shares `path` from `c` in group g and checks the answer.
    void share(Client& c, const fs::path& path) {
        auto lines = c.run("upload_file " + path.string() + " g", Duration{60000});
        ASSERT_FALSE(lines.empty());
        EXPECT_THAT(lines.back(), StartsWith("shared " + path.filename().string() + " in group g"))
            << c.name();
    }

    // Waits for the "[C] [g] name  -> dest" line the client prints by itself.
    void wait_complete(Client& c, const std::string& name, const fs::path& dest,
                       Duration timeout = kDownloadTimeout) {
        const std::string expected = "[C] [g] " + name + "  -> " + dest.string();
        // No command runs on `c` meanwhile, so the line is still ahead of its read position.
        c.process().wait_for_line(
            "^" + std::regex_replace(expected, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                "$",
            timeout);
    }

    // Bytes each seeder reports having served (its "upload to ... closed" log lines).
    static std::uint64_t bytes_served(Client& c) {
        std::uint64_t total = 0;
        static const std::regex re(R"(\((\d+) bytes served\))");
        for (const auto& l : c.process().stderr_lines()) {
            std::smatch m;
            if (std::regex_search(l, m, re)) total += std::stoull(m[1]);
        }
        return total;
    }
};

TEST_F(FileSharingTest, ThreeSeedersServeOneDownloaderInParallel) {
    auto [a, b, c, d] = in_group("g", "alice", "bob", "carol", "dave");
    const std::string content = random_bytes(24 * kPiece + 12345, 1);  // a short last piece
    const fs::path src = dir_ / "src" / "movie.bin";
    write_file(src, content);
    share(a, src);
    share(b, src);
    share(c, src);
    EXPECT_THAT(d.run("list_files g"), ElementsAre("movie.bin  12.0 MiB  seeders=3  online=3"));

    fs::create_directories(dir_ / "down");
    auto started = d.run("download_file g movie.bin " + (dir_ / "down").string());
    EXPECT_THAT(started, ElementsAre(MatchesRegex(
                             "downloading movie\\.bin from group g to .*/down/movie\\.bin  "
                             "\\(12\\.0 MiB, 3 peer\\(s\\) online\\)")));
    const fs::path dest = dir_ / "down" / "movie.bin";
    wait_complete(d, "movie.bin", dest);
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
    EXPECT_FALSE(fs::exists(dest.string() + ".part"));
    EXPECT_FALSE(fs::exists(dest.string() + ".part.state"));
    auto shown = d.run("show_downloads");
    ASSERT_EQ(shown.size(), 1u);
    EXPECT_THAT(shown[0], StartsWith("[C] [g] movie.bin  -> " + dest.string()));

    // The finished download seeds from now on; pieces came from more than one seeder.
    EXPECT_TRUE(eventually([&] {
        auto l = d.run("list_files g");
        return l.size() == 1 && l[0] == "movie.bin  12.0 MiB  seeders=4  online=4";
    }));
    int serving = 0;
    for (Client* s : {&a, &b, &c}) {
        eventually([&] { return bytes_served(*s) > 0; }, Duration{3000});
        serving += bytes_served(*s) > 0 ? 1 : 0;
    }
    EXPECT_GE(serving, 2) << "the download should pull from several seeders at once";
}

TEST_F(FileSharingTest, SeveralDownloadsRunAtOnceNextToServing) {
    auto [a, b] = in_group("g", "alice", "bob");
    const std::string one = random_bytes(10 * kPiece + 3, 21);
    const std::string two = random_bytes(7 * kPiece, 22);
    write_file(dir_ / "src" / "one.bin", one);
    write_file(dir_ / "src" / "two.bin", two);
    share(a, dir_ / "src" / "one.bin");
    share(a, dir_ / "src" / "two.bin");
    fs::create_directories(dir_ / "down");
    b.run("download_file g one.bin " + (dir_ / "down").string());
    b.run("download_file g two.bin " + (dir_ / "down").string());
    auto printed = [&](const std::string& line) {
        auto lines = b.process().stdout_lines();
        return std::find(lines.begin(), lines.end(), line) != lines.end();
    };
    ASSERT_TRUE(eventually(
        [&] {
            return printed("[C] [g] one.bin  -> " + (dir_ / "down" / "one.bin").string()) &&
                   printed("[C] [g] two.bin  -> " + (dir_ / "down" / "two.bin").string());
        },
        kDownloadTimeout))
        << dump_all_processes();
    EXPECT_TRUE(read_file(dir_ / "down" / "one.bin") == one);
    EXPECT_TRUE(read_file(dir_ / "down" / "two.bin") == two);
    // The two "[C]" lines printed by themselves are still unread; show_downloads' two follow.
    auto shown = b.run("show_downloads");
    ASSERT_EQ(shown.size(), 4u);
    EXPECT_THAT(shown[2], MatchesRegex("\\[C\\] \\[g\\] one\\.bin  -> .*  \\(.* s, .* MB/s\\)"));
    EXPECT_THAT(shown[3], MatchesRegex("\\[C\\] \\[g\\] two\\.bin  -> .*  \\(.* s, .* MB/s\\)"));
}

// The order that shows it: bob is frozen before the download starts and is still frozen when
// it completes, so the pieces came from the others while he answered nothing (the connect and
// handshake deadlines that drop such a peer are pinned on a manual clock by the unit tests).
TEST_F(FileSharingTest, AFrozenSeederDoesNotStopTheDownload) {
    auto [a, b, c, d] = in_group("g", "alice", "bob", "carol", "dave");
    const std::string content = random_bytes(16 * kPiece, 2);
    const fs::path src = dir_ / "src" / "data.bin";
    write_file(src, content);
    share(a, src);
    share(b, src);
    share(c, src);
    b.process().signal(SIGSTOP);  // still online for the tracker, but answers nothing
    ASSERT_TRUE(eventually([&] { return process_state(b.process().pid()) == 'T'; }))
        << "bob did not stop";
    EXPECT_THAT(d.run("download_file g data.bin " + (dir_ / "data.bin").string()),
                ElementsAre(HasSubstr("3 peer(s) online")))
        << "bob should be among the seeders the download starts with";
    // A failure deadline only: the others carry the download, whenever it ends.
    wait_complete(d, "data.bin", dir_ / "data.bin", Duration{30000});
    EXPECT_EQ(process_state(b.process().pid()), 'T') << "bob was thawed before the end";
    b.process().signal(SIGCONT);
    EXPECT_TRUE(read_file(dir_ / "data.bin") == content);
}

TEST_F(FileSharingTest, CorruptedCopiesAreDetectedAndTheGoodPiecesTakenFromEachSeeder) {
    auto [a, b, d] = in_group("g", "alice", "bob", "dave");
    const std::string content = random_bytes(8 * kPiece + 777, 3);
    const auto [copy_a, copy_b] = write_copies(dir_.path(), "doc.bin", content, "a", "b");
    share(a, copy_a);
    share(b, copy_b);
    // After the upload each copy goes bad in a different piece: only both together are whole.
    corrupt_piece(copy_a, 2);
    corrupt_piece(copy_b, 5);
    const fs::path dest = dir_ / "doc.bin";
    d.run("download_file g doc.bin " + dest.string());
    wait_complete(d, "doc.bin", dest);
    EXPECT_TRUE(read_file(dest) == content) << "a corrupted piece reached the destination";
    // Piece 2 can only have come from bob and piece 5 only from alice.
    for (Client* seeder : {&a, &b}) {
        EXPECT_TRUE(eventually([&] { return bytes_served(*seeder) > 0; }, Duration{3000}))
            << seeder->name() << " served nothing";
    }
}

TEST_F(FileSharingTest, AFinishedDownloaderServesTheNextOneWhenTheSeedersAreGone) {
    auto [a, b, c] = in_group("g", "alice", "bob", "carol");
    const std::string content = random_bytes(6 * kPiece + 1, 4);
    write_file(dir_ / "src" / "song.bin", content);
    share(a, dir_ / "src" / "song.bin");
    b.run("download_file g song.bin " + (dir_ / "b-song.bin").string());
    wait_complete(b, "song.bin", dir_ / "b-song.bin");
    a.quit();  // the only original seeder leaves
    EXPECT_TRUE(eventually([&] {
        auto l = c.run("list_files g");
        return l.size() == 1 && l[0] == "song.bin  3.0 MiB  seeders=2  online=1";
    }));
    c.run("download_file g song.bin " + (dir_ / "c-song.bin").string());
    wait_complete(c, "song.bin", dir_ / "c-song.bin");
    EXPECT_TRUE(read_file(dir_ / "c-song.bin") == content);
    EXPECT_GT(bytes_served(b), 0u);
}

TEST_F(FileSharingTest, ADownloaderKilledMidwayResumesFromItsVerifiedPieces) {
    auto [a, b] = in_group("g", "alice", "bob");
    const std::string content = random_bytes(256 * kPiece, 5);  // 128 MiB
    write_file(dir_ / "src" / "big.bin", content);
    share(a, dir_ / "src" / "big.bin");
    const fs::path dest = dir_ / "big.bin";
    const fs::path state = dest.string() + ".part.state";
    b.send("download_file g big.bin " + dest.string());
    // The state is there from the start; it records pieces after a few are verified: freeze
    // the only seeder right then, so the download is caught midway, and kill the downloader.
    ASSERT_TRUE(eventually([&] { return state_records_a_piece(state); }, Duration{30000}));
    a.process().signal(SIGSTOP);
    b.process().signal(SIGKILL);
    b.process().wait_exit();
    a.process().signal(SIGCONT);
    ASSERT_FALSE(fs::exists(dest)) << "the download finished before it could be interrupted";
    ASSERT_TRUE(fs::exists(dest.string() + ".part"));

    Client b2(dir_, tracker_, b.name());  // same data directory
    auto login = b2.run("login bob secret");
    ASSERT_EQ(login.size(), 2u);
    EXPECT_EQ(login[0], "logged in as bob");
    const std::string resumed = login[1];
    EXPECT_THAT(resumed,
                StartsWith("resuming download of big.bin from group g to " + dest.string()));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(resumed, m, std::regex(R"(\(([0-9.]+)% verified\))")));
    EXPECT_GT(std::stod(m[1]), 0.0) << resumed;
    EXPECT_LT(std::stod(m[1]), 100.0) << resumed;
    wait_complete(b2, "big.bin", dest);
    EXPECT_TRUE(read_file(dest) == content);
    EXPECT_FALSE(fs::exists(state));
}

TEST_F(FileSharingTest, ADownloaderKilledBeforeItsFirstPieceResumesAtTheNextLogin) {
    auto [a, b] = in_group("g", "alice", "bob");
    const std::string content = random_bytes(4 * kPiece + 3, 9);
    write_file(dir_ / "src" / "early.bin", content);
    share(a, dir_ / "src" / "early.bin");
    const fs::path dest = dir_ / "early.bin";
    const fs::path state = dest.string() + ".part.state";
    a.process().signal(SIGSTOP);  // the only seeder sends nothing
    auto lines = b.run("download_file g early.bin " + dest.string());
    ASSERT_FALSE(lines.empty());
    EXPECT_THAT(lines[0], StartsWith("downloading early.bin from group g to " + dest.string()));
    // The partial file and its state are both in place once the command has answered.
    EXPECT_TRUE(fs::exists(dest.string() + ".part"));
    EXPECT_TRUE(fs::exists(state));
    EXPECT_FALSE(state_records_a_piece(state));
    b.process().signal(SIGKILL);
    b.process().wait_exit();
    a.process().signal(SIGCONT);

    Client b2(dir_, tracker_, b.name());  // same data directory
    auto login = b2.run("login bob secret");
    ASSERT_EQ(login.size(), 2u);
    EXPECT_EQ(login[0], "logged in as bob");
    EXPECT_EQ(login[1], "resuming download of early.bin from group g to " + dest.string() +
                            "  (0.0% verified)");
    wait_complete(b2, "early.bin", dest);
    EXPECT_TRUE(read_file(dest) == content);
    EXPECT_FALSE(fs::exists(state));
}

TEST_F(FileSharingTest, ADownloadNeverTakesOverAPartialFileThatIsNotItsOwn) {
    auto [a, b] = in_group("g", "alice", "bob");
    const std::string content = random_bytes(kPiece + 7, 21);
    write_file(dir_ / "src" / "m.txt", content);
    share(a, dir_ / "src" / "m.txt");
    const fs::path dl = dir_ / "dl";
    const fs::path victim = dir_ / "victim.conf";
    write_file(victim, "precious settings\n");
    write_file(dl / "unrelated", "");
    const fs::path part = dl / "m.txt.part";
    fs::create_symlink(victim, part);  // a planted link in a shared directory
    auto lines = b.run("download_file g m.txt " + dl.string());
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "error: cannot download m.txt: " + part.string() +
                            " is a symbolic link, which a download never follows; move it away or "
                            "choose another destination");
    EXPECT_EQ(read_file(victim), "precious settings\n");
    EXPECT_FALSE(fs::exists(fs::symlink_status(dl / "m.txt")));

    fs::remove(part);
    write_file(part, "my own notes\n");  // a user's own file that happens to have the name
    lines = b.run("download_file g m.txt " + dl.string());
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "error: cannot download m.txt: " + part.string() +
                            " already exists and is not a download of m.txt we can resume (there "
                            "is no " +
                            part.string() +
                            ".state); move it away or choose another "
                            "destination");
    EXPECT_EQ(read_file(part), "my own notes\n");
    EXPECT_FALSE(fs::exists(part.string() + ".state"));

    fs::remove(part);  // moved away: now the download goes through
    lines = b.run("download_file g m.txt " + dl.string());
    ASSERT_FALSE(lines.empty());
    EXPECT_THAT(lines[0],
                StartsWith("downloading m.txt from group g to " + (dl / "m.txt").string()));
    wait_complete(b, "m.txt", dl / "m.txt");
    EXPECT_TRUE(read_file(dl / "m.txt") == content);
    EXPECT_EQ(read_file(victim), "precious settings\n");
}

TEST_F(FileSharingTest, LogoutPausesAndLoginResumesSharing) {
    auto [a, b] = in_group("g", "alice", "bob");
    write_file(dir_ / "src" / "x.bin", random_bytes(kPiece + 5, 6));
    share(a, dir_ / "src" / "x.bin");
    a.must("logout", "logged out alice");
    EXPECT_THAT(b.run("list_files g"), ElementsAre("x.bin  512.0 KiB  seeders=1  online=0"));
    a.must("login alice secret", "logged in as alice");
    EXPECT_TRUE(eventually([&] {
        auto l = b.run("list_files g");
        return l.size() == 1 && l[0] == "x.bin  512.0 KiB  seeders=1  online=1";
    }));
    b.run("download_file g x.bin " + (dir_ / "x-copy.bin").string());
    wait_complete(b, "x.bin", dir_ / "x-copy.bin");
}

TEST_F(FileSharingTest, AFileChangedWhileLoggedOutIsNoLongerShared) {
    auto [a, b] = in_group("g", "alice", "bob");
    write_file(dir_ / "src" / "x.bin", random_bytes(kPiece, 7));
    share(a, dir_ / "src" / "x.bin");
    a.must("logout", "logged out alice");
    write_file(dir_ / "src" / "x.bin", random_bytes(kPiece, 8));  // new content, new mtime
    auto lines = a.run("login alice secret");
    EXPECT_THAT(lines, ::testing::Contains(MatchesRegex(
                           "stopped sharing \\[g\\] x\\.bin .*: the file changed or went away "
                           "since it was shared")));
}

TEST_F(FileSharingTest, StopShareAndLeaveGroupTakeFilesOutOfTheListing) {
    auto [a, b] = in_group("g", "alice", "bob");
    write_file(dir_ / "src" / "one.bin", random_bytes(1000, 9));
    write_file(dir_ / "src" / "two.bin", random_bytes(2000, 10));
    share(b, dir_ / "src" / "one.bin");
    share(b, dir_ / "src" / "two.bin");
    EXPECT_THAT(a.run("list_files g"), ElementsAre("one.bin  1000 B  seeders=1  online=1",
                                                   "two.bin  2.0 KiB  seeders=1  online=1"));
    EXPECT_THAT(b.run("stop_share g one.bin"), ElementsAre("stopped sharing one.bin in group g"));
    EXPECT_THAT(a.run("list_files g"), ElementsAre("two.bin  2.0 KiB  seeders=1  online=1"));
    EXPECT_THAT(b.run("stop_share g one.bin"), ElementsAre(StartsWith("error: ")));
    b.must("leave_group g", "left group g");
    EXPECT_THAT(a.run("list_files g"), ElementsAre("(no files shared in group g)"));
}

TEST_F(FileSharingTest, EveryCommandRejectsBadInputWithOneErrorLine) {
    Client& a = logged_in("alice");
    Client& outsider = logged_in("olga");
    Client& anon = new_client();
    create_group(a, "g");
    write_file(dir_ / "src" / "f.bin", random_bytes(3000, 11));
    write_file(dir_ / "other" / "f.bin", random_bytes(3000, 12));
    const std::string f = (dir_ / "src" / "f.bin").string();
    share(a, f);
    auto one_error = [](Client& c, const std::string& cmd, const std::string& words) {
        auto lines = c.run(cmd);
        ASSERT_EQ(lines.size(), 1u) << cmd;
        EXPECT_THAT(lines[0], StartsWith("error: ")) << cmd;
        EXPECT_THAT(lines[0], HasSubstr(words)) << cmd;
    };
    // Not logged in.
    for (const std::string& cmd :
         {"upload_file " + f + " g", std::string("list_files g"), std::string("stop_share g f.bin"),
          "download_file g f.bin " + dir_.path().string()}) {
        one_error(anon, cmd, "not logged in");
    }
    // Not a member.
    one_error(outsider, "upload_file " + f + " g", "not a member");
    one_error(outsider, "list_files g", "not a member");
    one_error(outsider, "download_file g f.bin " + dir_.path().string(), "not a member");
    // Bad arguments.
    one_error(a, "upload_file " + (dir_ / "missing.bin").string() + " g", "no such file");
    one_error(a, "upload_file " + dir_.path().string() + " g", "not a regular file");
    one_error(a, "upload_file " + f + " nosuchgroup", "does not exist");
    one_error(a, "upload_file " + f + " bad/group", "invalid group id");
    one_error(a, "upload_file " + (dir_ / "other" / "f.bin").string() + " g", "different file");
    one_error(a, "list_files nosuchgroup", "does not exist");
    one_error(a, "download_file g nothing.bin " + dir_.path().string(), "no file named");
    one_error(a, "download_file g f.bin " + (dir_ / "no" / "dir" / "f.bin").string(),
              "not a directory");
    one_error(a, "download_file g f.bin " + f, "already exists");
    one_error(a, "download_file g f.bin " + (dir_ / "src").string(), "already exists");
    one_error(a, "stop_share g nothing.bin", "no file named");
    one_error(a, "upload_file " + f, "usage");
    one_error(a, "download_file g f.bin", "usage");
}

}  // namespace
}  // namespace gs::e2e
