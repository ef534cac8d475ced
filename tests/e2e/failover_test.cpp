// Clients fail over by themselves (issue 12, point 4; docs/protocol.md §1.2): two trackers serve
// one state (one SQLite file, TrackerSet); when the tracker a client uses dies, the client moves
// to the other, resumes its session there and tells the user in one line (also when the tracker
// is frozen rather than dead); a command typed while no tracker is up fails with one clear line
// after the stated wait, and works once one is back; a download in progress carries on.
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <regex>
#include <string>

namespace gs::e2e {
namespace {

using ::testing::Contains;
using ::testing::Not;

// The tracker `c` went through first, from its log ("using tracker IP:PORT"); waits for the line.
std::string tracker_in_use(Client& c) {
    const std::string line = c.process().wait_for_stderr_line(R"(using tracker 127\.0\.0\.1:\d+)");
    std::smatch m;
    std::regex_search(line, m, std::regex(R"(127\.0\.0\.1:\d+)"));
    return m[0].str();
}

class FailoverTest : public TrackerSetTest {
protected:
    struct Trackers {
        std::size_t used;   // the one the client goes through
        std::size_t other;  // the other one
    };
    // Alice logged in, with a group "books" of hers; which tracker her client uses.
    Trackers alice_with_books() {
        Client& alice = logged_in("alice");
        create_group(alice, "books");
        const std::size_t used = trackers_.index_of(tracker_in_use(alice));
        return {used, 1 - used};
    }
};

std::string failover_line(const std::string& from, const std::string& to) {
    return "tracker " + from + " lost; now using " + to;
}

TEST_F(FailoverTest, WhenItsTrackerDiesTheClientCarriesOnThroughTheOtherWithoutANewLogin) {
    const auto [used, other] = alice_with_books();
    Client& alice = *clients_[0];
    trackers_[used].kill();
    // The next command goes through the other tracker on the same session; the client said
    // once that it moved.
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(failover_line(trackers_[used].address(), trackers_[other].address()),
                            member_of("books", "alice", 1)));
    create_group(alice, "music");
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(member_of("books", "alice", 1), member_of("music", "alice", 1)));
    EXPECT_THAT(alice.process().stdout_lines(), Not(Contains(HasSubstr("login again"))));
    trackers_[other].process().wait_for_stderr_line("op=resume -> ok");

    // One state: a new user, necessarily on the surviving tracker, sees what alice made.
    Client& bob = logged_in("bob");
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books"), not_in("music")));
}

TEST_F(FailoverTest, WithEveryTrackerDownACommandFailsWithOneLineAndWorksOnceOneIsBack) {
    const auto [used, other] = alice_with_books();
    Client& alice = *clients_[0];
    // The unused one first, so the client has nowhere to go when its own dies.
    trackers_[other].kill();
    trackers_[used].kill();

    // Not 20 s of silence: one error line once the stated wait (5 s) is over.
    auto lines = alice.run("list_groups");
    ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
    EXPECT_THAT(lines[0], MatchesRegex("error: cannot reach any tracker for 5 s \\(last: "
                                       "127\\.0\\.0\\.1:[0-9]+: .*\\); try again later"));

    // Back on the other tracker: the same session, through it.
    trackers_[other].restart();
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(failover_line(trackers_[used].address(), trackers_[other].address()),
                            member_of("books", "alice", 1)));
    create_group(alice, "music");
}

TEST_F(FailoverTest, ATrackerThatAnswersNothingIsLeftForTheOther) {
    const auto [used, other] = alice_with_books();
    Client& alice = *clients_[0];
    // Frozen, not dead: the link stays up, but nothing comes back. After 10 s of silence the
    // client moves on and sends the request again there.
    trackers_[used].process().signal(SIGSTOP);
    EXPECT_THAT(alice.run("list_groups", Duration{30000}),
                ElementsAre(failover_line(trackers_[used].address(), trackers_[other].address()),
                            member_of("books", "alice", 1)));
    alice.process().wait_for_stderr_line("no answer for 10 s");
    trackers_[used].process().signal(SIGCONT);
}

TEST_F(FailoverTest, ADownloadInProgressCompletesWhileTheTrackerOfEveryoneIsKilled) {
    // Every client tries the trackers in one same order, so all use the same one (which one does
    // not matter): who is online is known only to the tracker a client is connected to.
    ScopedEnv same_order("GS_TRACKER_SEED", "12");
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    make_group(alice, "g", {&bob}, {"bob"});
    const std::string content = random_bytes(12 * kPiece + 777, 3);
    const fs::path src = dir_ / "src" / "film.bin";
    write_file(src, content);
    auto shared = alice.run("upload_file " + src.string() + " g", Duration{60000});
    ASSERT_FALSE(shared.empty());
    ASSERT_THAT(shared.back(), StartsWith("shared film.bin in group g"));
    const std::size_t used = trackers_.index_of(tracker_in_use(alice));
    ASSERT_EQ(trackers_.index_of(tracker_in_use(bob)), used);
    const std::size_t other = 1 - used;

    // The seeder holds still while the download starts, so it is in progress when the tracker
    // dies; then it carries on, and so does the download.
    alice.process().signal(SIGSTOP);
    const fs::path dest = dir_ / "down" / "film.bin";
    fs::create_directories(dest.parent_path());
    EXPECT_THAT(bob.run("download_file g film.bin " + dest.string()),
                ElementsAre(StartsWith("downloading film.bin from group g to ")));
    trackers_[used].kill();
    bob.process().wait_for_line(
        "^" + regex_escape(failover_line(trackers_[used].address(), trackers_[other].address())) +
        "$");
    alice.process().signal(SIGCONT);

    bob.process().wait_for_line("^" + regex_escape("[C] [g] film.bin  -> " + dest.string()) + "$",
                                Duration{90000});
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
    alice.process().wait_for_line(
        "^" + regex_escape(failover_line(trackers_[used].address(), trackers_[other].address())) +
        "$");
}

}  // namespace
}  // namespace gs::e2e
