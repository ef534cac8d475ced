// Faults that must not lose data (issue #5): the tracker killed with SIGKILL in the middle of a
// burst of writes, and a download whose destination file system fills up.
#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <string>

namespace gs::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::StartsWith;

using FaultsTest = E2eTest;

TEST_F(FaultsTest, EveryWriteTheTrackerAcknowledgedSurvivesASigkill) {
    constexpr int kClients = 8;
    constexpr int kGroupsEach = 25;
    std::vector<Client*> clients;
    for (int i = 0; i < kClients; ++i) clients.push_back(&logged_in("user" + std::to_string(i)));
    // Every client fires its whole burst at once; the tracker dies while answering it.
    std::vector<std::vector<PendingCommand>> pending(kClients);
    for (int i = 0; i < kClients; ++i) {
        for (int j = 0; j < kGroupsEach; ++j) {
            pending[i].push_back(
                clients[i]->send("create_group g" + std::to_string(i) + "-" + std::to_string(j)));
        }
    }
    // Kill once a few answers are out (without moving the read position collect() uses).
    ASSERT_TRUE(eventually([&] {
        for (const auto& l : clients[0]->process().stdout_lines()) {
            if (l.starts_with("group g0-2 created")) return true;
        }
        return false;
    }));
    tracker_.kill();
    tracker_.restart();

    // Clients reconnect, resume their sessions and resend what was not answered. Whatever the
    // tracker acknowledged — before or after the kill — must be in the database now.
    std::set<std::string> acknowledged;
    static const std::regex created("^group (g[0-9]+-[0-9]+) created; you are its owner$");
    for (int i = 0; i < kClients; ++i) {
        for (const auto& p : pending[i]) {
            for (const auto& line : clients[i]->collect(p, Duration{60000})) {
                std::smatch m;
                if (std::regex_match(line, m, created)) acknowledged.insert(m[1]);
            }
        }
    }
    ASSERT_FALSE(acknowledged.empty());
    std::set<std::string> listed;
    for (const auto& line : clients[0]->run("list_groups", Duration{30000})) {
        listed.insert(line.substr(0, line.find(' ')));
    }
    for (const auto& g : acknowledged) EXPECT_EQ(listed.count(g), 1u) << g << " was lost";
    // And nothing half-done: each group that exists was asked for.
    for (const auto& g : listed)
        EXPECT_TRUE(std::regex_match(g, std::regex("g[0-9]+-[0-9]+"))) << g;
}

// A tmpfs of a few MiB, mounted for one test (root only; skipped otherwise).
class SmallFileSystem {
public:
    SmallFileSystem(const fs::path& at, std::size_t bytes) : at_(at) {
        fs::create_directories(at_);
        const std::string opts = "size=" + std::to_string(bytes);
        mounted_ = ::mount("tmpfs", at_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    }
    ~SmallFileSystem() {
        if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }

private:
    fs::path at_;
    bool mounted_ = false;
};

// Writes zeros to `path` until the file system is full.
void fill_up(const fs::path& path) {
    std::ofstream out(path, std::ios::binary);
    const std::string chunk(64 * 1024, '\0');
    while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()))) {
    }
}

TEST_F(FaultsTest, AFullDiskPausesTheDownloadWhichResumesWhenThereIsRoom) {
    const fs::path mnt = dir_ / "small";
    SmallFileSystem small(mnt, 24 << 20);
    if (!small.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";

    Client& a = logged_in("alice");
    Client& b = logged_in("bob");
    a.must("create_group g", "group g created; you are its owner");
    b.must("join_group g", "join request sent to the owner of group g");
    a.must("accept_request g bob", "bob is now a member of group g");
    std::mt19937_64 rng(42);
    std::string content(16 << 20, '\0');
    for (auto& c : content) c = static_cast<char>(rng());
    std::ofstream(dir_ / "big.bin", std::ios::binary) << content;
    auto shared = a.run("upload_file " + (dir_ / "big.bin").string() + " g");
    ASSERT_THAT(shared.back(), StartsWith("shared big.bin"));

    // The seeder waits while the partial file is made and the rest of the disk is filled.
    a.process().signal(SIGSTOP);
    const fs::path dest = mnt / "big.bin";
    b.run("download_file g big.bin " + dest.string());
    ASSERT_TRUE(fs::exists(dest.string() + ".part"));
    fill_up(mnt / "filler");
    a.process().signal(SIGCONT);

    std::string error = b.process().wait_for_line(
        "^error: download of big\\.bin from group g paused: ", Duration{30000});
    EXPECT_THAT(error, ::testing::HasSubstr("No space left on device"));
    EXPECT_FALSE(fs::exists(dest)) << "an incomplete file reached the destination";
    auto shown = b.run("show_downloads");
    ASSERT_EQ(shown.size(), 1u);
    EXPECT_THAT(shown[0], ::testing::MatchesRegex("\\[D\\] \\[g\\] big\\.bin  .*paused: .*"));

    fs::remove(mnt / "filler");  // room again: the download carries on by itself
    b.process().wait_for_line(
        "^\\[C\\] \\[g\\] big\\.bin  -> " +
            std::regex_replace(dest.string(), std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)"),
        Duration{60000});
    std::ifstream in(dest, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), {});
    EXPECT_TRUE(got == content);
}

}  // namespace
}  // namespace gs::e2e
