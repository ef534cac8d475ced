// Accounts end to end: create_user, login, logout, help, quit and the client's argument checks,
// through the real client and tracker (docs/protocol.md §1.3).
#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace gs::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kNotLoggedIn =
    "error: you are not logged in; use login <user_id> <passwd> first";
constexpr const char* kAuthFailed = "error: wrong user id or password";

using AccountsTest = E2eTest;

TEST_F(AccountsTest, CreatedUserCanLogIn) {
    Client& c = new_client();
    EXPECT_THAT(c.run("create_user alice s3cret"), ElementsAre("user alice created"));
    EXPECT_THAT(c.run("login alice s3cret"), ElementsAre("logged in as alice"));
    EXPECT_THAT(c.run("list_groups"), ElementsAre("(no groups yet)"));
}

TEST_F(AccountsTest, CreatingAnExistingUserFailsFromAnyClient) {
    Client& a = new_client();
    Client& b = new_client();
    a.must("create_user alice one", "user alice created");
    EXPECT_THAT(a.run("create_user alice two"), ElementsAre("error: user 'alice' already exists"));
    EXPECT_THAT(b.run("create_user alice three"),
                ElementsAre("error: user 'alice' already exists"));
    // The first password still holds; the refused ones did not overwrite it.
    EXPECT_THAT(b.run("login alice two"), ElementsAre(kAuthFailed));
    EXPECT_THAT(b.run("login alice one"), ElementsAre("logged in as alice"));
}

TEST_F(AccountsTest, UserIdsAreCaseSensitive) {
    Client& c = new_client();
    c.must("create_user alice pw", "user alice created");
    EXPECT_THAT(c.run("create_user Alice pw"), ElementsAre("user Alice created"));
    EXPECT_THAT(c.run("login ALICE pw"), ElementsAre(kAuthFailed));
}

TEST_F(AccountsTest, WrongPasswordAndUnknownUserGiveTheSameMessage) {
    Client& c = new_client();
    c.must("create_user alice right", "user alice created");
    auto wrong_password = c.run("login alice wrong");
    auto unknown_user = c.run("login nobody right");
    EXPECT_THAT(wrong_password, ElementsAre(kAuthFailed));
    EXPECT_EQ(wrong_password, unknown_user);
}

TEST_F(AccountsTest, RepeatedFailedLoginsAreThrottledThenAllowedAgain) {
    Client& c = new_client();
    c.must("create_user alice right", "user alice created");
    c.must("create_user bob right", "user bob created");
    for (int i = 0; i < 3; ++i) {
        EXPECT_THAT(c.run("login alice wrong"), ElementsAre(kAuthFailed)) << "attempt " << i + 1;
    }
    // Even the right password waits out the delay: the throttle must not reveal it.
    EXPECT_THAT(c.run("login alice right"),
                ElementsAre(StartsWith("error: too many failed logins")));
    EXPECT_THAT(c.run("login alice wrong"),
                ElementsAre(StartsWith("error: too many failed logins")));

    // An unknown user id is throttled exactly the same way.
    for (int i = 0; i < 3; ++i) EXPECT_THAT(c.run("login ghost pw"), ElementsAre(kAuthFailed));
    EXPECT_THAT(c.run("login ghost pw"), ElementsAre(StartsWith("error: too many failed logins")));

    // The throttle is per user id: bob is not slowed down by alice's failures.
    Client& other = new_client();
    EXPECT_THAT(other.run("login bob right"), ElementsAre("logged in as bob"));

    // The delay passes, and then the right password works.
    std::vector<std::string> last;
    bool logged_in = eventually([&] {
        last = c.run("login alice right");
        return last == std::vector<std::string>{"logged in as alice"};
    });
    EXPECT_TRUE(logged_in) << "last answer: " << (last.empty() ? "" : last.front());
}

// The throttle counts an attempt when it arrives, not when its hash is done: logins sent all at
// once, before any answer, get no more free guesses than logins sent one at a time.
TEST_F(AccountsTest, FailedLoginsSentAllAtOnceAreThrottledAfterTheThird) {
    Client& c = new_client();
    c.must("create_user alice right", "user alice created");
    RawConnection raw("127.0.0.1", tracker_.port());
    constexpr int kAttempts = 6;
    for (int seq = 1; seq <= kAttempts; ++seq) {
        raw.send_frame(Bencode::dict({{"op", Bencode::str("login")},
                                      {"seq", Bencode::integer(seq)},
                                      {"user", Bencode::str("alice")},
                                      {"password", Bencode::str("wrong")},
                                      {"listen", Bencode::str("127.0.0.1:7001")}}));
    }
    int auth_failed = 0;
    int throttled = 0;
    for (int i = 0; i < kAttempts; ++i) {
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value()) << "reply " << i + 1;
        if (reply->find("4:code11:auth_failed") != std::string::npos) ++auth_failed;
        if (reply->find("4:code9:throttled") != std::string::npos) {
            ++throttled;
            EXPECT_THAT(*reply, HasSubstr("too many failed logins for 'alice'; try again in 1 s"))
                << *reply;
        }
    }
    EXPECT_EQ(auth_failed, 3);
    EXPECT_EQ(throttled, kAttempts - 3);
}

TEST_F(AccountsTest, TwoGoodLoginsSentAtOnceLogInOnceAndRefuseTheOther) {
    Client& c = new_client();
    c.must("create_user alice right", "user alice created");
    c.must("create_user bob right", "user bob created");
    RawConnection raw("127.0.0.1", tracker_.port());
    for (auto [seq, user] : {std::pair{1, "alice"}, std::pair{2, "bob"}}) {
        raw.send_frame(Bencode::dict({{"op", Bencode::str("login")},
                                      {"seq", Bencode::integer(seq)},
                                      {"user", Bencode::str(user)},
                                      {"password", Bencode::str("right")},
                                      {"listen", Bencode::str("127.0.0.1:7001")}}));
    }
    int ok = 0;
    int refused = 0;
    for (int i = 0; i < 2; ++i) {
        auto reply = raw.read_frame();
        ASSERT_TRUE(reply.has_value()) << "reply " << i + 1;
        if (reply->find("2:oki1e") != std::string::npos) ++ok;
        if (reply->find("; logout first") != std::string::npos) ++refused;
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(refused, 1);
}

TEST_F(AccountsTest, LoginWhileLoggedInIsRefused) {
    Client& c = logged_in("alice");
    c.must("create_user bob pw", "user bob created");
    EXPECT_THAT(c.run("login bob pw"),
                ElementsAre("error: already logged in as alice; logout first"));
    EXPECT_THAT(c.run("login alice secret"),
                ElementsAre("error: already logged in as alice; logout first"));
}

TEST_F(AccountsTest, LogoutEndsTheSessionAndAnotherUserCanLogIn) {
    Client& c = logged_in("alice");
    c.must("create_user bob pw", "user bob created");
    EXPECT_THAT(c.run("logout"), ElementsAre("logged out alice"));
    EXPECT_THAT(c.run("list_groups"), ElementsAre(kNotLoggedIn));
    EXPECT_THAT(c.run("logout"), ElementsAre(kNotLoggedIn));
    EXPECT_THAT(c.run("login bob pw"), ElementsAre("logged in as bob"));
    c.must("create_group bobs", "group bobs created; you are its owner");
    EXPECT_THAT(c.run("list_groups"),
                ElementsAre("bobs  owner=bob  members=1  (you are a member)"));
}

TEST_F(AccountsTest, EveryCommandThatNeedsLoginIsRefusedWhileLoggedOut) {
    Client& c = new_client();
    for (const char* command :
         {"logout", "create_group g", "join_group g", "leave_group g", "list_requests g",
          "accept_request g u", "reject_request g u", "list_groups"}) {
        EXPECT_THAT(c.run(command), ElementsAre(kNotLoggedIn)) << command;
    }
}

TEST_F(AccountsTest, WrongArgumentCountPrintsTheUsage) {
    Client& c = logged_in("alice");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"create_user", "create_user <user_id> <passwd>"},
        {"create_user bob", "create_user <user_id> <passwd>"},
        {"create_user bob pw extra", "create_user <user_id> <passwd>"},
        {"login", "login <user_id> <passwd>"},
        {"login alice", "login <user_id> <passwd>"},
        {"login alice pw extra", "login <user_id> <passwd>"},
        {"logout now", "logout [--everywhere]"},
        {"logout --everywhere now", "logout [--everywhere]"},
        {"create_group", "create_group <group_id>"},
        {"create_group a b", "create_group <group_id>"},
        {"join_group", "join_group <group_id>"},
        {"join_group a b", "join_group <group_id>"},
        {"leave_group", "leave_group <group_id>"},
        {"leave_group a b", "leave_group <group_id>"},
        {"list_requests", "list_requests <group_id>"},
        {"list_requests a b", "list_requests <group_id>"},
        {"accept_request g", "accept_request <group_id> <user_id>"},
        {"accept_request g u x", "accept_request <group_id> <user_id>"},
        {"reject_request g", "reject_request <group_id> <user_id>"},
        {"reject_request g u x", "reject_request <group_id> <user_id>"},
        {"list_groups all", "list_groups"},
    };
    for (const auto& [command, usage] : cases) {
        EXPECT_THAT(c.run(command), ElementsAre("error: usage: " + usage)) << command;
    }
    // A space inside an id splits it into two arguments: that is a usage error too.
    EXPECT_THAT(c.run("create_group my group"),
                ElementsAre("error: usage: create_group <group_id>"));
    // Nothing above reached the tracker as a real change.
    EXPECT_THAT(c.run("list_groups"), ElementsAre("(no groups yet)"));
}

TEST_F(AccountsTest, InvalidUserIdsAreRefusedWithTheRules) {
    Client& c = new_client();
    const std::string too_long(65, 'a');
    for (const std::string& id : {too_long, std::string("al!ce"), std::string("a/b"),
                                  std::string("caf\xc3\xa9"), std::string("a:b")}) {
        EXPECT_THAT(c.run("create_user " + id + " pw"),
                    ElementsAre(StartsWith("error: invalid user id '")))
            << id;
        EXPECT_THAT(c.run("login " + id + " pw"), ElementsAre(StartsWith("error: invalid user id")))
            << id;
    }
    EXPECT_THAT(c.run("create_user al!ce pw"),
                ElementsAre("error: invalid user id 'al!ce': use 1-64 letters, digits, '.', '_' "
                            "or '-'"));
    // The longest id allowed, and every allowed kind of character, are accepted.
    const std::string longest(64, 'z');
    EXPECT_THAT(c.run("create_user " + longest + " pw"),
                ElementsAre("user " + longest + " created"));
    EXPECT_THAT(c.run("create_user A.b_c-9 pw"), ElementsAre("user A.b_c-9 created"));
    EXPECT_THAT(c.run("login " + longest + " pw"), ElementsAre("logged in as " + longest));
}

TEST_F(AccountsTest, InvalidGroupAndUserIdsAreRefusedByEveryGroupCommand) {
    Client& c = logged_in("alice");
    const std::string too_long(65, 'g');
    for (const std::string& bad : {too_long, std::string("g!"), std::string("g/h")}) {
        for (const std::string& command :
             {"create_group " + bad, "join_group " + bad, "leave_group " + bad,
              "list_requests " + bad, "accept_request " + bad + " bob",
              "reject_request " + bad + " bob"}) {
            EXPECT_THAT(c.run(command), ElementsAre(StartsWith("error: invalid group id '")))
                << command;
        }
        EXPECT_THAT(c.run("accept_request g " + bad),
                    ElementsAre(StartsWith("error: invalid user id '")));
        EXPECT_THAT(c.run("reject_request g " + bad),
                    ElementsAre(StartsWith("error: invalid user id '")));
    }
    EXPECT_THAT(c.run("list_groups"), ElementsAre("(no groups yet)"));
}

TEST_F(AccountsTest, UnknownCommandIsNamedWithAHint) {
    Client& c = new_client();
    EXPECT_THAT(c.run("frobnicate now"),
                ElementsAre("error: unknown command 'frobnicate'; type help for the list"));
    EXPECT_THAT(c.run("upload"), ElementsAre(StartsWith("error: unknown command 'upload'")));
}

TEST_F(AccountsTest, HelpListsEveryCommandWithoutTheTracker) {
    Client& c = new_client();
    auto lines = c.run("help");
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.front(), "commands:");
    for (const char* usage :
         {"create_user <user_id> <passwd>", "login <user_id> <passwd>", "logout",
          "create_group <group_id>", "join_group <group_id>", "leave_group <group_id>",
          "list_requests <group_id>", "accept_request <group_id> <user_id>",
          "reject_request <group_id> <user_id>", "remove_member <group_id> <user_id>",
          "list_groups", "help", "quit"}) {
        bool found = false;
        for (const auto& l : lines)
            found = found || l.rfind(std::string("  ") + usage + " ", 0) == 0;
        EXPECT_TRUE(found) << "help does not list '" << usage << "'";
    }
    // help is local: it answers even with the tracker gone.
    tracker_.kill();
    auto again = c.run("help");
    EXPECT_EQ(again, lines);
}

TEST_F(AccountsTest, QuitSaysByeAndExitsCleanly) {
    Client& c = logged_in("alice");
    c.process().send_line("quit");
    c.process().wait_for_line("^bye$");
    ExitStatus status = c.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
    // The tracker noticed the client leave and carries on serving others.
    tracker_.process().wait_for_stderr_line("closed");
    Client& other = new_client();
    EXPECT_THAT(other.run("login alice secret"), ElementsAre("logged in as alice"));
}

TEST_F(AccountsTest, EndOfInputStopsTheClientAfterItsLastCommand) {
    Client& c = new_client();
    c.process().send_line("create_user alice pw");
    c.process().close_stdin();
    c.process().wait_for_line("^user alice created$");
    ExitStatus status = c.process().wait_exit();
    EXPECT_TRUE(status.is_clean()) << status.to_string();
}

// The tracker checks everything itself: a client that skips the checks gets the same rules.
TEST_F(AccountsTest, TrackerRefusesBadAccountRequestsSentPastTheClient) {
    RawConnection raw("127.0.0.1", tracker_.port());
    auto request = [&](std::string op, std::int64_t seq,
                       std::vector<std::pair<std::string, std::string>> args) {
        args.emplace_back("op", Bencode::str(op));
        args.emplace_back("seq", Bencode::integer(seq));
        raw.send_frame(Bencode::dict(std::move(args)));
        auto reply = raw.read_frame();
        return reply.value_or("(connection closed)");
    };
    auto user = [](const std::string& id) {
        return std::vector<std::pair<std::string, std::string>>{{"user", Bencode::str(id)},
                                                                {"password", Bencode::str("pw")}};
    };
    int seq = 1;
    for (const std::string& id : {std::string("al ice"), std::string(65, 'a'), std::string("a/b"),
                                  std::string(""), std::string("nul\0x", 5)}) {
        std::string reply = request("create_user", seq, user(id));
        EXPECT_THAT(reply, HasSubstr("4:code9:bad_input")) << "id '" << id << "': " << reply;
        EXPECT_THAT(reply, HasSubstr("3:seqi" + std::to_string(seq) + "e")) << reply;
        ++seq;
    }
    // A login names a user only by a valid id: anything else is refused before any password is
    // checked, and says why.
    for (const std::string& id : {std::string(65, 'a'), std::string("al ice"), std::string("")}) {
        auto args = user(id);
        args.emplace_back("listen", Bencode::str("127.0.0.1:7001"));
        std::string reply = request("login", seq, args);
        EXPECT_THAT(reply, HasSubstr("4:code9:bad_input")) << "id '" << id << "': " << reply;
        EXPECT_THAT(reply, HasSubstr("invalid user id '" + id + "': use 1-64 letters")) << reply;
        ++seq;
    }
    std::string empty_password = request(
        "create_user", seq++, {{"user", Bencode::str("bob")}, {"password", Bencode::str("")}});
    EXPECT_THAT(empty_password, HasSubstr("4:code9:bad_input"));
    std::string missing = request("create_user", seq++, {{"user", Bencode::str("bob")}});
    EXPECT_THAT(missing, HasSubstr("4:code9:bad_input"));
    std::string unknown_op = request("make_me_admin", seq++, {});
    EXPECT_THAT(unknown_op, HasSubstr("4:code9:bad_input"));
    for (const char* op : {"list_groups", "logout", "create_group"}) {
        std::string reply = request(op, seq++, {{"group", Bencode::str("g")}});
        EXPECT_THAT(reply, HasSubstr("4:code13:not_logged_in")) << op << ": " << reply;
    }
    // Bad requests inside good frames are answered, not punished: the link is still usable.
    std::string ok = request("create_user", seq++, user("carol"));
    EXPECT_THAT(ok, HasSubstr("2:oki1e")) << ok;
}

}  // namespace
}  // namespace gs::e2e
