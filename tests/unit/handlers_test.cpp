#include "tests/unit/handlers_fixture.hpp"

#include "shared/ids.hpp"

#include <map>
#include <set>

namespace gs::tracker {
namespace {

using namespace test_support;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The connection a login or resume comes from (the Dispatcher passes ConnState::peer).
constexpr std::string_view kSource = "127.0.0.1:40000";

// ---- Routing and login ----

TEST_F(HandlersTest, TableRoutesEveryLoggedInOperationOfTheProtocol) {
    std::set<std::string> ops;
    for (const auto& [name, route] : route_table()) {
        if (route.account != AccountOp::None) continue;
        ops.insert(std::string(name));
        EXPECT_TRUE(route.needs_login) << name;
        EXPECT_NE(route.fn, nullptr) << name;
    }
    EXPECT_EQ(ops,
              (std::set<std::string>{"accept_request", "add_seeder", "create_group", "get_file",
                                     "get_peers", "join_group", "leave_group", "list_files",
                                     "list_groups", "list_requests", "logout", "reject_request",
                                     "remove_file", "remove_member", "stop_share", "upload_file"}));
}

TEST_F(HandlersTest, TableRoutesTheAccountOperationsToTheDispatcherWithoutLogin) {
    std::map<std::string, AccountOp> accounts;
    for (const auto& [name, route] : route_table()) {
        if (route.account == AccountOp::None) continue;
        accounts[std::string(name)] = route.account;
        EXPECT_FALSE(route.needs_login) << name;
        EXPECT_EQ(route.fn, nullptr) << name;
        EXPECT_FALSE(route.needs_live_session) << name;
        EXPECT_FALSE(route.ends_session) << name;
    }
    EXPECT_EQ(accounts, (std::map<std::string, AccountOp>{{"create_user", AccountOp::CreateUser},
                                                          {"login", AccountOp::Login},
                                                          {"resume", AccountOp::Resume}}));
}

// Session revocation (SECURITY.md): the ops that hand out tickets or register a seeder check
// that the session is still live; only logout ends it.
TEST_F(HandlersTest, TableMarksTheTicketOperationsAndTheOneThatEndsTheSession) {
    std::set<std::string> live;
    std::set<std::string> ending;
    for (const auto& [name, route] : route_table()) {
        if (route.needs_live_session) live.insert(std::string(name));
        if (route.ends_session) ending.insert(std::string(name));
    }
    EXPECT_EQ(live, (std::set<std::string>{"add_seeder", "get_file", "get_peers", "upload_file"}));
    EXPECT_EQ(ending, (std::set<std::string>{"logout"}));
}

TEST_F(HandlersTest, EveryHandlerRefusesCallersWhoAreNotLoggedIn) {
    group_g();
    for (const auto& [name, route] : route_table()) {
        if (route.fn == nullptr) continue;
        SCOPED_TRACE(std::string(name));
        EXPECT_ERROR(call(route.fn, nullptr, {{"group", "g"}, {"user", "bob"}, {"name", "a.txt"}}),
                     Errc::NotLoggedIn,
                     "you are not logged in; use login <user_id> <passwd> first");
    }
}

// ---- Groups ----

TEST_F(HandlersTest, CreatorOwnsTheNewGroupAndIsAMember) {
    ASSERT_TRUE(call(handle_create_group, &alice_, {{"group", "g"}}).ok());
    auto groups = call(handle_list_groups, &alice_);
    ASSERT_TRUE(groups.ok());
    const auto& list = groups->at("groups").as_list();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0], proto::Value(proto::Dict{
                           {"group", "g"}, {"owner", "alice"}, {"members", 1}, {"member", 1}}));
}

TEST_F(HandlersTest, GroupIdCanBeTakenOnlyOnce) {
    ASSERT_TRUE(call(handle_create_group, &alice_, {{"group", "g"}}).ok());
    EXPECT_ERROR(call(handle_create_group, &bob_, {{"group", "g"}}), Errc::AlreadyExists,
                 "group 'g' already exists");
}

TEST_F(HandlersTest, InvalidOrMissingGroupIdIsBadInput) {
    EXPECT_ERROR(call(handle_create_group, &alice_, {{"group", "x y"}}), Errc::BadInput,
                 "invalid group id 'x y': use 1-64 letters, digits, '.', '_' or '-'");
    EXPECT_ERROR(call(handle_create_group, &alice_, {{"group", std::string(65, 'a')}}),
                 Errc::BadInput,
                 "invalid group id '" + std::string(65, 'a') +
                     "': use 1-64 letters, digits, '.', '_' or '-'");
    EXPECT_ERROR(call(handle_join_group, &alice_, {{"group", "a\nb"}}), Errc::BadInput,
                 "invalid group id 'a\\x0ab': use 1-64 letters, digits, '.', '_' or '-'");
    EXPECT_ERROR(call(handle_create_group, &alice_, {}), Errc::BadInput, "missing group id");
    EXPECT_ERROR(call(handle_create_group, &alice_, {{"group", 7}}), Errc::BadInput,
                 "missing group id");
}

TEST_F(HandlersTest, GroupIdOfExactly64CharactersIsAcceptedAnd65IsNot) {
    const std::string longest(kMaxIdBytes, 'g');
    ASSERT_TRUE(call(handle_create_group, &alice_, {{"group", longest}}).ok());
    EXPECT_TRUE(call(handle_join_group, &bob_, {{"group", longest}}).ok());
    EXPECT_ERROR(call(handle_join_group, &carol_, {{"group", longest + "g"}}), Errc::BadInput,
                 "invalid group id '" + longest + "g': use 1-64 letters, digits, '.', '_' or '-'");
}

TEST_F(HandlersTest, GroupsThatDoNotExistAreNamed) {
    for (HandlerFn fn :
         {handle_join_group, handle_leave_group, handle_list_requests, handle_list_files}) {
        EXPECT_ERROR(call(fn, &alice_, {{"group", "nope"}}), Errc::NotFound,
                     "group 'nope' does not exist");
    }
    EXPECT_ERROR(call_about(handle_accept_request, &alice_, "bob", "nope"), Errc::NotFound,
                 "group 'nope' does not exist");
}

TEST_F(HandlersTest, JoiningMakesAPendingRequestOnlyTheOwnerSees) {
    group_g({&carol_});
    ASSERT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
    auto requests = call(handle_list_requests, &alice_, {{"group", "g"}});
    ASSERT_TRUE(requests.ok());
    const auto& list = requests->at("requests").as_list();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].get_string("user"), "bob");
    EXPECT_EQ(list[0].get_string("requested_at"), "2026-11-25T10:00:00Z");
    // A pending request is not a membership.
    EXPECT_ERROR(call(handle_list_files, &bob_, {{"group", "g"}}), Errc::Denied,
                 "you are not a member of group 'g'");
    // Neither the requester nor another member may look.
    for (const Session* who : {&bob_, &carol_}) {
        EXPECT_ERROR(call(handle_list_requests, who, {{"group", "g"}}), Errc::Denied,
                     "only the owner of group 'g' can see its join requests");
    }
}

TEST_F(HandlersTest, AskingTwiceIsAnError) {
    group_g();
    ASSERT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
    EXPECT_ERROR(call(handle_join_group, &bob_, {{"group", "g"}}), Errc::AlreadyExists,
                 "you already asked to join group 'g'; the owner has not answered yet");
}

TEST_F(HandlersTest, JoiningAGroupYouAreInIsAnError) {
    group_g({&bob_});
    EXPECT_ERROR(call(handle_join_group, &bob_, {{"group", "g"}}), Errc::AlreadyExists,
                 "you are already a member of group 'g'");
    EXPECT_ERROR(call(handle_join_group, &alice_, {{"group", "g"}}), Errc::AlreadyExists,
                 "you are already a member of group 'g'");
}

TEST_F(HandlersTest, AcceptedRequesterBecomesAMember) {
    group_g();
    ASSERT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
    ASSERT_TRUE(call_about(handle_accept_request, &alice_, "bob").ok());
    EXPECT_TRUE(call(handle_list_files, &bob_, {{"group", "g"}}).ok());
    EXPECT_TRUE(
        call(handle_list_requests, &alice_, {{"group", "g"}})->at("requests").as_list().empty());
}

TEST_F(HandlersTest, RejectedRequesterStaysOutAndMayAskAgain) {
    group_g();
    ASSERT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
    ASSERT_TRUE(call_about(handle_reject_request, &alice_, "bob").ok());
    EXPECT_ERROR(call(handle_list_files, &bob_, {{"group", "g"}}), Errc::Denied,
                 "you are not a member of group 'g'");
    EXPECT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
}

// accept_request and reject_request, each with the verb its denial names: they check the same.
struct Decision {
    HandlerFn fn;
    std::string verb;
};
const Decision kDecisions[] = {{handle_accept_request, "accept"},
                               {handle_reject_request, "reject"}};

TEST_F(HandlersTest, OnlyTheOwnerDecidesRequests) {
    group_g({&carol_});
    ASSERT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
    // Neither another member nor the requester may decide.
    for (const Session* who : {&carol_, &bob_}) {
        for (const Decision& d : kDecisions) {
            EXPECT_ERROR(call_about(d.fn, who, "bob"), Errc::Denied,
                         "only the owner of group 'g' can " + d.verb + " requests");
        }
    }
}

TEST_F(HandlersTest, DecidingARequestThatDoesNotExistIsAnError) {
    group_g({&carol_});
    for (const Decision& d : kDecisions) {
        SCOPED_TRACE(d.verb);
        // Neither a user who never asked nor a member has a request.
        for (const char* user : {"bob", "carol"}) {
            EXPECT_ERROR(call_about(d.fn, &alice_, user), Errc::NotFound,
                         "'" + std::string(user) + "' has not asked to join group 'g'");
        }
        EXPECT_ERROR(call_about(d.fn, &alice_, "no one"), Errc::BadInput,
                     "invalid user id 'no one': use 1-64 letters, digits, '.', '_' or '-'");
        EXPECT_ERROR(call(d.fn, &alice_, {{"group", "g"}}), Errc::BadInput, "missing user id");
    }
}

TEST_F(HandlersTest, OwnerLeavingHandsTheGroupToTheLongestStandingMember) {
    group_g({&carol_, &bob_});
    auto left = call(handle_leave_group, &alice_, {{"group", "g"}});
    ASSERT_TRUE(left.ok()) << left.error().message;
    EXPECT_EQ(*left, (proto::Dict{{"new_owner", "carol"}}));
    EXPECT_TRUE(call(handle_list_requests, &carol_, {{"group", "g"}}).ok());
    EXPECT_ERROR(call(handle_list_requests, &bob_, {{"group", "g"}}), Errc::Denied,
                 "only the owner of group 'g' can see its join requests");
}

TEST_F(HandlersTest, MemberLeavingSaysNothingMore) {
    group_g({&bob_});
    auto left = call(handle_leave_group, &bob_, {{"group", "g"}});
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty());
    EXPECT_ERROR(call(handle_list_files, &bob_, {{"group", "g"}}), Errc::Denied,
                 "you are not a member of group 'g'");
}

TEST_F(HandlersTest, LastMemberLeavingDeletesTheGroup) {
    group_g();
    ASSERT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
    auto left = call(handle_leave_group, &alice_, {{"group", "g"}});
    ASSERT_TRUE(left.ok());
    EXPECT_EQ(*left, (proto::Dict{{"deleted", 1}}));
    EXPECT_ERROR(call(handle_join_group, &bob_, {{"group", "g"}}), Errc::NotFound,
                 "group 'g' does not exist");
    EXPECT_TRUE(call(handle_list_groups, &bob_)->at("groups").as_list().empty());
}

TEST_F(HandlersTest, LeavingAGroupYouAreNotInIsAnError) {
    group_g();
    EXPECT_ERROR(call(handle_leave_group, &bob_, {{"group", "g"}}), Errc::Denied,
                 "you are not a member of group 'g'");
}

// A non-member sees only a group's id (to ask to join); owner and member count are for members.
TEST_F(HandlersTest, ListGroupsShowsEveryGroupAndWhetherTheCallerIsIn) {
    group_g({&bob_});
    ASSERT_TRUE(call(handle_create_group, &carol_, {{"group", "c"}}).ok());
    auto r = call(handle_list_groups, &bob_);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->at("groups"),
              proto::Value(proto::List{
                  proto::Dict{{"group", "c"}, {"member", 0}},
                  proto::Dict{{"group", "g"}, {"owner", "alice"}, {"members", 2}, {"member", 1}},
              }));
}

// ---- Accounts and sessions ----

TEST_F(HandlersTest, NewUserNeedsAValidFreeIdAndAPassword) {
    EXPECT_TRUE(check_new_user(*store_, "dave", "pw").ok());
    EXPECT_ERROR(check_new_user(*store_, "alice", "pw"), Errc::AlreadyExists,
                 "user 'alice' already exists");
    EXPECT_ERROR(check_new_user(*store_, "x y", "pw"), Errc::BadInput,
                 "invalid user id 'x y': use 1-64 letters, digits, '.', '_' or '-'");
    EXPECT_ERROR(check_new_user(*store_, "dave", ""), Errc::BadInput,
                 "the password must not be empty");
    EXPECT_EQ(already_exists_user_error("alice").message, "user 'alice' already exists");
}

TEST_F(HandlersTest, UserIdsAndPasswordsAreAcceptedUpToTheirLimitsAndRefusedPastThem) {
    const std::string longest_id(kMaxIdBytes, 'd');
    EXPECT_TRUE(check_new_user(*store_, longest_id, "pw").ok());
    EXPECT_TRUE(check_user_id(longest_id).ok());
    const std::string invalid_id =
        "invalid user id '" + longest_id + "d': use 1-64 letters, digits, '.', '_' or '-'";
    EXPECT_ERROR(check_new_user(*store_, longest_id + "d", "pw"), Errc::BadInput, invalid_id);
    EXPECT_ERROR(check_user_id(longest_id + "d"), Errc::BadInput, invalid_id);
    EXPECT_ERROR(check_user_id(""), Errc::BadInput,
                 "invalid user id '': use 1-64 letters, digits, '.', '_' or '-'");

    EXPECT_TRUE(check_new_user(*store_, "dave", std::string(kMaxPasswordBytes, 'p')).ok());
    EXPECT_ERROR(check_new_user(*store_, "dave", std::string(kMaxPasswordBytes + 1, 'p')),
                 Errc::BadInput, "the password is longer than 1024 bytes");
}

TEST_F(HandlersTest, SessionTokenResumesUntilLogout) {
    Session s = alice_;
    auto token = open_session(*store_, s, kNow);
    ASSERT_TRUE(token.ok()) << token.error().message;
    EXPECT_EQ(token->size(), 64u);
    EXPECT_EQ(s.token_hash.size(), 64u);
    EXPECT_NE(s.token_hash, *token) << "the store must keep only a hash of the token";

    auto resumed = resume_session(*store_, *token, "127.0.0.1:7100", kSource, kNow + 1h);
    ASSERT_TRUE(resumed.ok()) << resumed.error().message;
    EXPECT_EQ(resumed->user_id, "alice");
    EXPECT_EQ(resumed->user_pk, alice_.user_pk);
    EXPECT_EQ(resumed->listen_addr, "127.0.0.1:7100");
    EXPECT_EQ(resumed->token_hash, s.token_hash);

    ASSERT_TRUE(call(handle_logout, &*resumed).ok());
    auto after = resume_session(*store_, *token, "127.0.0.1:7100", kSource, kNow + 1h);
    ASSERT_FALSE(after.ok());
    EXPECT_EQ(after.error().code, Errc::AuthFailed);
}

TEST_F(HandlersTest, EachLoginGetsItsOwnToken) {
    Session a = alice_;
    Session b = alice_;
    auto first = open_session(*store_, a, kNow);
    auto second = open_session(*store_, b, kNow);
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_NE(*first, *second);
    ASSERT_TRUE(call(handle_logout, &a).ok());
    EXPECT_TRUE(resume_session(*store_, *second, "127.0.0.1:7001", kSource, kNow).ok());
}

TEST_F(HandlersTest, ExpiredOrUnknownTokensDoNotResume) {
    Session s = alice_;
    auto token = open_session(*store_, s, kNow);
    ASSERT_TRUE(token.ok());
    for (const std::string& bad :
         {std::string(64, '0'), std::string("abc"), std::string(64, 'z'), std::string()}) {
        EXPECT_ERROR(resume_session(*store_, bad, "127.0.0.1:7001", kSource, kNow),
                     Errc::AuthFailed,
                     "your session has expired or is not known; use login <user_id> <passwd>");
    }
    EXPECT_FALSE(
        resume_session(*store_, *token, "127.0.0.1:7001", kSource, kNow + kSessionLifetime).ok());
    EXPECT_TRUE(
        resume_session(*store_, *token, "127.0.0.1:7001", kSource, kNow + kSessionLifetime - 1s)
            .ok());
}

TEST_F(HandlersTest, LoginIsCheckedBeforeItsPasswordAndCountedByTheThrottle) {
    LoginThrottle throttle;
    const LoginThrottle::Clock::time_point t0{};
    auto request = [](std::string user, std::string password = "pw") {
        return proto::Value(proto::Dict{{"user", std::move(user)},
                                        {"password", std::move(password)},
                                        {"listen", "127.0.0.1:7001"}});
    };
    EXPECT_ERROR(
        begin_login(*store_, throttle, proto::Value(proto::Dict{{"user", "alice"}}), nullptr, t0),
        Errc::BadInput, "login needs a user id, a password and the client's listen address");
    EXPECT_ERROR(begin_login(*store_, throttle, request("alice"), &bob_, t0), Errc::BadInput,
                 "already logged in as bob; logout first");
    EXPECT_EQ(begin_login(*store_, throttle, request("no/such"), nullptr, t0).error().code,
              Errc::BadInput);

    // An unknown user goes on to the password check like any other, and fails it the same way.
    auto nobody = begin_login(*store_, throttle, request("nobody"), nullptr, t0);
    ASSERT_TRUE(nobody.ok()) << nobody.error().message;
    EXPECT_FALSE(nobody->found.has_value());
    EXPECT_ERROR(finish_login(*store_, throttle, *nobody, true, kSource, t0, kNow),
                 Errc::AuthFailed, "wrong user id or password");

    // Attempts count from begin_login: the free ones are used up by attempts still pending.
    for (int i = 0; i < LoginThrottle::kFreeFailures; ++i) {
        auto pending = begin_login(*store_, throttle, request("alice", "wrong"), nullptr, t0);
        ASSERT_TRUE(pending.ok()) << i << ": " << pending.error().message;
        EXPECT_EQ(pending->found->user_id, "alice");
    }
    EXPECT_ERROR(begin_login(*store_, throttle, request("alice"), nullptr, t0), Errc::Throttled,
                 "too many failed logins for 'alice'; try again in 1 s");

    // A verified login later opens a session whose token resumes it, and clears the failures.
    const auto later = t0 + LoginThrottle::kBaseDelay;
    auto good = begin_login(*store_, throttle, request("alice"), nullptr, later);
    ASSERT_TRUE(good.ok()) << good.error().message;
    auto done = finish_login(*store_, throttle, *good, true, kSource, later, kNow);
    ASSERT_TRUE(done.ok()) << done.error().message;
    EXPECT_EQ(done->session.user_id, "alice");
    EXPECT_EQ(done->session.listen_addr, "127.0.0.1:7001");
    EXPECT_TRUE(resume_session(*store_, done->token, "127.0.0.1:7001", kSource, kNow).ok());
    EXPECT_EQ(throttle.wait_before_attempt("alice", later), LoginThrottle::Clock::duration::zero());
}

TEST_F(HandlersTest, ResumingASessionKeepsItForAnotherLifetimeFromThen) {
    Session s = alice_;
    auto token = open_session(*store_, s, kNow);
    ASSERT_TRUE(token.ok());
    // Used just before it would expire: good for a whole lifetime from then, not from login.
    const TimePoint used = kNow + kSessionLifetime - 1h;
    ASSERT_TRUE(resume_session(*store_, *token, "127.0.0.1:7001", kSource, used).ok());
    EXPECT_TRUE(
        resume_session(*store_, *token, "127.0.0.1:7001", kSource, kNow + kSessionLifetime).ok());
    // Each use renews it; a session left unused for a lifetime is gone.
    const TimePoint last_use = kNow + kSessionLifetime;
    EXPECT_TRUE(
        resume_session(*store_, *token, "127.0.0.1:7001", kSource, last_use + kSessionLifetime - 1s)
            .ok());
    const TimePoint renewed_until = last_use + 2 * kSessionLifetime - 1s;
    EXPECT_FALSE(resume_session(*store_, *token, "127.0.0.1:7001", kSource, renewed_until).ok());
}

TEST_F(HandlersTest, SessionsNeedAUsableListenAddress) {
    Session s = alice_;
    s.listen_addr = "localhost:7001";
    EXPECT_ERROR(open_session(*store_, s, kNow), Errc::BadInput,
                 "invalid listen address 'localhost:7001': use IP:PORT");
    s = alice_;
    auto token = open_session(*store_, s, kNow);
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(resume_session(*store_, *token, "1.2.3.4", kSource, kNow).error().code,
              Errc::BadInput);
}

TEST(ListenAddr, AcceptsIpAndPortOnly) {
    for (const char* good :
         {"127.0.0.1:7001", "10.0.0.2:1", "0.0.0.0:65535", "[::1]:6881", "[2001:db8::2]:80"}) {
        EXPECT_TRUE(is_valid_listen_addr(good)) << good;
    }
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                            "127.0.0.1:07001", "127.0.0.1:+80", "host:80", "::1:80", "[::1]",
                            "1.2.3:80", "127.0.0.1:80 ", "[127.0.0.1]:80"}) {
        EXPECT_FALSE(is_valid_listen_addr(bad)) << bad;
    }
}

}  // namespace
}  // namespace gs::tracker
