// The tracker's life: how it stops (quit, SIGTERM, not end of stdin), what survives a restart on
// the same database, and how logged-in clients ride over a crash (docs/protocol.md §1.3, resume).
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

using TrackerLifecycleTest = E2eTest;

TEST_F(TrackerLifecycleTest, QuitOnStdinStopsTheTrackerWithStatusZero) {
    Client& alice = logged_in("alice");
    tracker_.process().send_line("quit");
    ExitStatus status = tracker_.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
    (void)alice;
}

TEST_F(TrackerLifecycleTest, UnknownWordOnStdinIsRefusedAndTheTrackerCarriesOn) {
    tracker_.process().send_line("stop please");
    tracker_.process().wait_for_line("^error: unknown command; type quit to stop the tracker$");
    tracker_.process().send_line("  quit  ");
    ExitStatus status = tracker_.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
}

TEST_F(TrackerLifecycleTest, SigtermStopsTheTrackerWithStatusZero) {
    Client& alice = logged_in("alice");
    create_group(alice, "books");
    tracker_.process().signal(SIGTERM);
    ExitStatus status = tracker_.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
}

TEST_F(TrackerLifecycleTest, SigintStopsTheTrackerWithStatusZero) {
    tracker_.process().signal(SIGINT);
    ExitStatus status = tracker_.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
}

TEST_F(TrackerLifecycleTest, ClosingStdinDoesNotStopTheTracker) {
    tracker_.process().close_stdin();
    // Two hashed requests and one plain one: far longer than the tracker needs to see the end
    // of its input, so an exit on EOF would have happened by the end.
    Client& alice = logged_in("alice");
    EXPECT_THAT(alice.run("create_group books"),
                ElementsAre("group books created; you are its owner"));
    EXPECT_FALSE(tracker_.process().poll_exit().has_value()) << "the tracker exited";
    // With stdin gone, SIGTERM is the way to stop it, and it still stops cleanly.
    tracker_.process().signal(SIGTERM);
    ExitStatus status = tracker_.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
}

TEST_F(TrackerLifecycleTest, StateSurvivesAQuitAndRestartOnTheSameDatabase) {
    {
        Client& alice = logged_in("alice");
        Client& bob = logged_in("bob");
        Client& carol = logged_in("carol");
        create_group(alice, "books");
        create_group(alice, "films");
        join_group(alice, bob, "bob", "books");
        ask_to_join(carol, "books");
        create_group(bob, "music");
        alice.must("leave_group films",
                   "left group films; it had no other members and was deleted");
    }
    clients_.clear();  // everyone goes away with the tracker
    tracker_.quit();
    tracker_.restart();

    Client& alice = new_client();
    EXPECT_THAT(alice.run("create_user alice other"),
                ElementsAre("error: user 'alice' already exists"));
    EXPECT_THAT(alice.run("login alice wrong"), ElementsAre("error: wrong user id or password"));
    EXPECT_THAT(alice.run("login alice secret"), ElementsAre("logged in as alice"));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(member_of("books", "alice", 2), not_in("music")));
    EXPECT_THAT(alice.run("list_requests books"), ElementsAre(MatchesRegex("carol  requested .+")));
    EXPECT_THAT(alice.run("accept_request books carol"),
                ElementsAre("carol is now a member of group books"));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(member_of("books", "alice", 3), not_in("music")));
}

TEST_F(TrackerLifecycleTest, KilledTrackerRestartedOnTheSamePortLetsLoggedInClientsCarryOn) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    Client& idle = new_client();  // connected, never logged in
    create_group(alice, "books");
    join_group(alice, bob, "bob", "books");
    create_group(bob, "music");
    ask_to_join(alice, "music");
    bob.must("create_user carol pw", "user carol created");

    tracker_.kill();
    // A command typed while the tracker is down waits for it instead of failing.
    PendingCommand during_outage = alice.send("list_groups");
    tracker_.restart();

    // No login again: the clients resume their sessions by themselves.
    EXPECT_THAT(alice.collect(during_outage),
                ElementsAre(member_of("books", "alice", 2), not_in("music")));
    EXPECT_THAT(bob.run("list_requests music"), ElementsAre(MatchesRegex("alice  requested .+")));
    EXPECT_THAT(bob.run("accept_request music alice"),
                ElementsAre("alice is now a member of group music"));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(member_of("books", "alice", 2), member_of("music", "bob", 2)));
    // The user made just before the kill is there; the idle client reconnected too.
    EXPECT_THAT(idle.run("login carol pw"), ElementsAre("logged in as carol"));
    EXPECT_THAT(idle.run("list_groups"), ElementsAre(not_in("books"), not_in("music")));
    // Writes after the restart stick as well.
    EXPECT_THAT(alice.run("logout"), ElementsAre("logged out alice"));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre("error: you are not logged in; use login <user_id> <passwd> first"));
}

TEST_F(TrackerLifecycleTest, TrackerKilledTwiceStillLetsTheSessionCarryOn) {
    Client& alice = logged_in("alice");
    for (int round = 1; round <= 2; ++round) {
        tracker_.kill();
        tracker_.restart();
        std::string group = "g" + std::to_string(round);
        EXPECT_THAT(alice.run("create_group " + group),
                    ElementsAre("group " + group + " created; you are its owner"))
            << "round " << round;
    }
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(member_of("g1", "alice", 1), member_of("g2", "alice", 1)));
}

TEST_F(TrackerLifecycleTest, LoggedOutSessionIsNotResumedAfterACrash) {
    Client& alice = logged_in("alice");
    alice.must("logout", "logged out alice");
    tracker_.kill();
    tracker_.restart();
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre("error: you are not logged in; use login <user_id> <passwd> first"));
    EXPECT_THAT(alice.run("login alice secret"), ElementsAre("logged in as alice"));
}

TEST_F(TrackerLifecycleTest, ClientStartedWhileTheTrackerIsDownConnectsWhenItComesUp) {
    {
        Client& setup = new_client();
        setup.must("create_user alice secret", "user alice created");
    }
    tracker_.kill();
    Client& late = new_client();
    PendingCommand login = late.send("login alice secret");
    tracker_.restart();
    EXPECT_THAT(late.collect(login), ElementsAre("logged in as alice"));
}

}  // namespace
}  // namespace gs::e2e
