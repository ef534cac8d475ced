// Several trackers on one PostgreSQL database (issue 12), always on PostgreSQL whatever
// GS_TEST_DB says: clients attached to different trackers see one state at once (users, groups,
// requests, files, and who is online, so a download pulls from seeders attached to other
// trackers); a tracker killed in a burst of writes loses none that was acknowledged, and its
// clients carry on through the others; PostgreSQL stopped and restarted under load gives clear
// errors meanwhile and loses nothing; and the races of issue 12 point 3, through two trackers,
// have exactly one winner each.
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <regex>
#include <string>
#include <vector>

namespace gs::e2e {
namespace {

using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::Not;

const Duration kTransfer{90000};

class MultiTrackerTest : public TrackerSetTest {
protected:
    explicit MultiTrackerTest(std::size_t count = 3) : TrackerSetTest(count, fresh_pg_database()) {}

    // A client that goes through tracker `i` first: its tracker_info.txt lists the set from
    // tracker i on, and GS_TRACKER_SEED=file keeps that order. It checks where it went.
    Client& client_on(std::size_t i) {
        std::string listed;
        for (std::size_t k = 0; k < trackers_.size(); ++k) {
            listed += trackers_[(i + k) % trackers_.size()].address() + "\n";
        }
        const fs::path info = dir_ / ("info_from_" + std::to_string(i + 1) + ".txt");
        write_file(info, listed);
        ScopedEnv in_order("GS_TRACKER_SEED", "file");
        std::string name = "client" + std::to_string(clients_.size() + 1);
        clients_.push_back(std::make_unique<Client>(dir_, info, name));
        return *clients_.back();
    }

    // client_on(i), with `user` created and logged in there (through tracker i).
    Client& user_on(std::size_t i, const std::string& user) {
        Client& c = client_on(i);
        c.must("create_user " + user + " secret", "user " + user + " created");
        c.must("login " + user + " secret", "logged in as " + user);
        const std::string line =
            c.process().wait_for_stderr_line(R"(using tracker 127\.0\.0\.1:\d+)");
        EXPECT_THAT(line, HasSubstr("using tracker " + trackers_[i].address())) << user;
        return c;
    }

    // `c` shares a new file `name` of `size` bytes (seeded by `seed`) in `group`; its content.
    std::string share(Client& c, const std::string& group, const std::string& name,
                      std::size_t size, std::uint64_t seed) {
        const std::string content = random_bytes(size, seed);
        const fs::path src = dir_ / ("src-" + c.name()) / name;
        write_file(src, content);
        auto lines = c.run("upload_file " + src.string() + " " + group, kTransfer);
        EXPECT_THAT(lines, Contains(StartsWith("shared " + name + " in group " + group)));
        return content;
    }

    // `c` downloads `name` from `group` and waits for it to complete; the bytes.
    std::string download(Client& c, const std::string& group, const std::string& name) {
        const fs::path dest = dir_ / ("down-" + c.name()) / name;
        fs::create_directories(dest.parent_path());
        EXPECT_THAT(c.run("download_file " + group + " " + name + " " + dest.string()),
                    ElementsAre(StartsWith("downloading " + name + " from group " + group)));
        c.process().wait_for_line(
            "^" + regex_escape("[C] [" + group + "] " + name + "  -> " + dest.string()) + "$",
            kTransfer);
        return read_file(dest);
    }
};

TEST_F(MultiTrackerTest, ClientsOnDifferentTrackersSeeOneStateAtOnce) {
    Client& alice = user_on(0, "alice");
    Client& bob = user_on(1, "bob");
    Client& carol = user_on(2, "carol");

    // Users: a name taken through one tracker is taken through the others.
    EXPECT_THAT(carol.run("create_user alice other"),
                ElementsAre("error: user 'alice' already exists"));

    // Groups and join requests, each seen through another tracker than the one that made it.
    create_group(alice, "g");
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("g")));
    ask_to_join(bob, "g");
    EXPECT_THAT(alice.run("list_requests g"), ElementsAre(MatchesRegex("bob  requested .+")));
    accept_request(alice, "g", "bob");
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(member_of("g", "alice", 2)));
    ask_to_join(carol, "g");
    accept_request(alice, "g", "carol");
    EXPECT_THAT(carol.run("list_groups"), ElementsAre(member_of("g", "alice", 3)));

    // Files and seeders: alice seeds through tracker 1; trackers 2 and 3 see her online.
    const std::string content = share(alice, "g", "film.bin", 3 * kPiece + 123, 7);
    EXPECT_THAT(bob.run("list_files g"), ElementsAre("film.bin  1.5 MiB  seeders=1  online=1"));
    EXPECT_THAT(carol.run("list_files g"), ElementsAre("film.bin  1.5 MiB  seeders=1  online=1"));

    // Bob, on tracker 2, pulls from alice, on tracker 1; then he seeds it too.
    EXPECT_TRUE(download(bob, "g", "film.bin") == content) << "bob's bytes differ";
    EXPECT_TRUE(eventually([&] {
        auto lines = carol.run("list_files g");
        return lines.size() == 1 && lines[0] == "film.bin  1.5 MiB  seeders=2  online=2";
    })) << "carol does not see bob seeding";
    // Carol, on tracker 3, pulls from seeders on trackers 1 and 2 only.
    EXPECT_TRUE(download(carol, "g", "film.bin") == content) << "carol's bytes differ";
}

TEST_F(MultiTrackerTest, KilledInABurstOfWritesLosesNoAcknowledgedWriteAndClientsCarryOn) {
    // Alice seeds through tracker 1; the writers and bob, who downloads from her, go through it
    // too; dave and erin watch through trackers 2 and 3.
    Client& alice = user_on(0, "alice");
    std::vector<Client*> writers{&user_on(0, "w1"), &user_on(0, "w2"), &user_on(0, "w3")};
    Client& bob = user_on(0, "bob");
    Client& dave = user_on(1, "dave");
    Client& erin = user_on(2, "erin");
    make_group(alice, "g", {&bob, &dave}, {"bob", "dave"});
    const std::string content = share(alice, "g", "film.bin", 12 * kPiece + 777, 3);

    // The seeder holds still while the download starts, so it is in progress when the tracker
    // dies.
    alice.process().signal(SIGSTOP);
    const fs::path dest = dir_ / "down" / "film.bin";
    fs::create_directories(dest.parent_path());
    EXPECT_THAT(bob.run("download_file g film.bin " + dest.string()),
                ElementsAre(StartsWith("downloading film.bin from group g to ")));

    // The burst: each writer creates groups one after the other; the tracker dies once w1's
    // third has been acknowledged, with the rest in flight or still to come.
    constexpr int kPerWriter = 12;
    std::vector<std::vector<PendingCommand>> sent(writers.size());
    for (int k = 0; k < kPerWriter; ++k) {
        for (std::size_t w = 0; w < writers.size(); ++w) {
            sent[w].push_back(
                writers[w]->send("create_group " + writers[w]->name() + "_" + std::to_string(k)));
        }
    }
    // Every command answers; the acknowledged ones are what the others must see.
    std::vector<std::string> acknowledged;
    auto collect = [&](std::size_t w, int k) {
        const std::string group = writers[w]->name() + "_" + std::to_string(k);
        for (const std::string& line : writers[w]->collect(sent[w][k], Duration{30000})) {
            if (line == "group " + group + " created; you are its owner") {
                acknowledged.push_back(group);
            }
        }
    };
    for (int k = 0; k < 3; ++k) collect(0, k);
    trackers_[0].kill();
    alice.process().signal(SIGCONT);
    for (int k = 3; k < kPerWriter; ++k) collect(0, k);
    for (std::size_t w = 1; w < writers.size(); ++w) {
        for (int k = 0; k < kPerWriter; ++k) collect(w, k);
    }
    ASSERT_FALSE(acknowledged.empty());
    for (Client* watcher : {&dave, &erin}) {
        std::vector<std::string> seen = watcher->run("list_groups");
        for (const std::string& group : acknowledged) {
            EXPECT_THAT(seen, Contains(not_in(group)))
                << group << " was acknowledged; " << watcher->name() << " does not see it";
        }
    }

    // Each writer moved to another tracker, kept its session (no new login) and works on.
    for (Client* w : writers) {
        EXPECT_THAT(w->process().stdout_lines(),
                    Contains(MatchesRegex("tracker " + regex_escape(trackers_[0].address()) +
                                          " lost; now using 127\\.0\\.0\\.1:[0-9]+")))
            << w->name();
        create_group(*w, w->name() + "_after");
        EXPECT_THAT(w->process().stdout_lines(), Not(Contains(HasSubstr("login again"))))
            << w->name();
    }

    // The download in progress completes; alice keeps her share: dave sees her online through
    // tracker 2.
    bob.process().wait_for_line("^" + regex_escape("[C] [g] film.bin  -> " + dest.string()) + "$",
                                kTransfer);
    EXPECT_TRUE(read_file(dest) == content) << "downloaded bytes differ";
    alice.process().wait_for_line("^tracker " + regex_escape(trackers_[0].address()) +
                                  " lost; now using 127\\.0\\.0\\.1:[0-9]+$");
    EXPECT_THAT(alice.process().stdout_lines(), Not(Contains(HasSubstr("login again"))));
    EXPECT_TRUE(eventually([&] {
        auto lines = dave.run("list_files g");
        return lines.size() == 1 && lines[0] == "film.bin  6.0 MiB  seeders=2  online=2";
    })) << "alice's and bob's shares are not both online";
}

TEST_F(MultiTrackerTest, PostgresStoppedAndRestartedUnderLoadGivesErrorsThenLosesNothing) {
    Client& alice = user_on(0, "alice");
    Client& bob = user_on(1, "bob");
    std::vector<std::string> acknowledged;
    for (int k = 0; k < 5; ++k) {
        create_group(k % 2 == 0 ? alice : bob, "before" + std::to_string(k));
        acknowledged.push_back("before" + std::to_string(k));
    }

    // Load: both keep writing while the server goes down.
    PendingCommand alices = alice.send("create_group during_a");
    PendingCommand bobs = bob.send("create_group during_b");
    stop_postgres();
    for (auto [c, pending] : {std::pair{&alice, &alices}, std::pair{&bob, &bobs}}) {
        for (const std::string& line : c->collect(*pending)) {
            if (line.find("created; you are its owner") != std::string::npos) {
                acknowledged.push_back(line.substr(6, line.find(' ', 6) - 6));
            }
        }
    }

    // During the outage: one clear error line per request, through either tracker.
    for (Client* c : {&alice, &bob}) {
        for (const std::string command : {"create_group outage", "list_groups", "list_files x"}) {
            auto lines = c->run(command);
            ASSERT_EQ(lines.size(), 1u) << command << ": " << ::testing::PrintToString(lines);
            EXPECT_EQ(lines[0],
                      "error: database unavailable: the tracker lost its database; try again "
                      "later")
                << command;
        }
    }

    // Back: the trackers reconnect by themselves (no restart); nothing acknowledged is lost.
    start_postgres();
    // Every request answers as before, at once: a pool connection that sat idle through the
    // outage is found closed and opened again before use, not failed on (before: the first
    // request through tracker 2 answered "database unavailable").
    for (Client* c : {&alice, &bob}) {
        for (int i = 0; i < 8; ++i) {
            auto lines = c->run("list_groups");
            ASSERT_FALSE(lines.empty());
            EXPECT_THAT(lines[0], Not(StartsWith("error: "))) << c->name() << " request " << i;
        }
    }
    create_group(alice, "after_a");
    create_group(bob, "after_b");
    acknowledged.push_back("after_a");
    acknowledged.push_back("after_b");
    auto seen = bob.run("list_groups");
    for (const std::string& group : acknowledged) {
        EXPECT_THAT(seen, Contains(AnyOf(not_in(group), StartsWith(group + "  owner="))))
            << group << " was acknowledged";
    }
    for (std::size_t i = 0; i < trackers_.size(); ++i) {
        EXPECT_FALSE(trackers_[i].process().poll_exit()) << "tracker " << i + 1 << " ended";
    }
}

// Two racers on two trackers send `a` and `b` at once; exactly one prints `won`, the other one
// line starting with `error: ` (the losing error `lost` when given).
void expect_one_winner(Client& first, const std::string& a, Client& second, const std::string& b,
                       const std::string& won, const std::string& lost) {
    PendingCommand pa = first.send(a);
    PendingCommand pb = second.send(b);
    auto la = first.collect(pa, kTransfer);
    auto lb = second.collect(pb, kTransfer);
    const bool a_won = la.size() == 1 && la[0].starts_with(won);
    const bool b_won = lb.size() == 1 && lb[0].starts_with(won);
    EXPECT_NE(a_won, b_won) << a << " / " << b << ": " << ::testing::PrintToString(la) << " "
                            << ::testing::PrintToString(lb);
    const auto& loser = a_won ? lb : la;
    ASSERT_EQ(loser.size(), 1u) << ::testing::PrintToString(loser);
    EXPECT_THAT(loser[0], StartsWith(lost.empty() ? std::string("error: ") : lost));
}

class TwoTrackerRaceTest : public MultiTrackerTest {
protected:
    TwoTrackerRaceTest() : MultiTrackerTest(2) {}
    static constexpr int kRounds = 10;
};

TEST_F(TwoTrackerRaceTest, OneUserIdCreatedOnTwoTrackersAtOnceHasOneWinner) {
    Client& a = client_on(0);
    Client& b = client_on(1);
    for (int k = 0; k < kRounds; ++k) {
        const std::string user = "u" + std::to_string(k);
        expect_one_winner(a, "create_user " + user + " pa", b, "create_user " + user + " pb",
                          "user " + user + " created", "error: user '" + user + "' already exists");
    }
}

TEST_F(TwoTrackerRaceTest, OneJoinRequestAcceptedByTheOwnerOnTwoTrackersAtOnceHasOneWinner) {
    Client& owner_a = user_on(0, "alice");
    Client& owner_b = client_on(1);
    owner_b.must("login alice secret", "logged in as alice");
    for (int k = 0; k < kRounds; ++k) {
        const std::string group = "g" + std::to_string(k);
        const std::string user = "m" + std::to_string(k);
        create_group(owner_a, group);
        Client& member = user_on(k % 2, user);
        ask_to_join(member, group);
        expect_one_winner(owner_a, "accept_request " + group + " " + user, owner_b,
                          "accept_request " + group + " " + user,
                          user + " is now a member of group " + group, "");
        EXPECT_THAT(member.run("list_groups"), Contains(member_of(group, "alice", 2)));
        member.quit();
    }
}

TEST_F(TwoTrackerRaceTest, OneFileNameUploadedWithTwoContentsAtOnceHasOneWinner) {
    Client& alice = user_on(0, "alice");
    Client& bob = user_on(1, "bob");
    make_group(alice, "g", {&bob}, {"bob"});
    for (int k = 0; k < kRounds; ++k) {
        const std::string name = "f" + std::to_string(k) + ".bin";
        const fs::path as = dir_ / "a" / name;
        const fs::path bs = dir_ / "b" / name;
        write_file(as, random_bytes(1000 + k, 2 * k));
        write_file(bs, random_bytes(1000 + k, 2 * k + 1));
        expect_one_winner(alice, "upload_file " + as.string() + " g", bob,
                          "upload_file " + bs.string() + " g", "shared " + name + " in group g",
                          "error: group 'g' already has a different file named '" + name + "'");
        EXPECT_THAT(alice.run("list_files g"), Contains(StartsWith(name + "  ")));
    }
    EXPECT_EQ(bob.run("list_files g").size(), static_cast<std::size_t>(kRounds));
}

}  // namespace
}  // namespace gs::e2e
