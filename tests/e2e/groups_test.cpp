// Groups end to end: create, join, the owner's requests, accept/reject, leave with owner
// hand-over and deletion, list_groups (docs/protocol.md §1.3).
#include "tests/e2e/fixtures.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gs::e2e {
namespace {

// alice and bob are logged in and alice owns group books; bob has got as far as `bob_is`.
enum class Bob { Outside, Asked, Member };
struct Books {
    Client& alice;
    Client& bob;
};

class GroupsTest : public E2eTest {
protected:
    Books books(Bob bob_is = Bob::Outside) {
        Client& alice = logged_in("alice");
        Client& bob = logged_in("bob");
        create_group(alice, "books");
        if (bob_is != Bob::Outside) ask_to_join(bob, "books");
        if (bob_is == Bob::Member) accept_request(alice, "books", "bob");
        return {alice, bob};
    }
};

// What list_requests shows for a group nobody is waiting to join.
std::string no_requests(const std::string& group) {
    return "(no pending requests for group " + group + ")";
}

// Once alice has decided bob's request, it is used up: none is listed, and deciding it again
// (`verb`: accept_request or reject_request) finds nothing.
void expect_request_used_up(Client& alice, const std::string& verb) {
    EXPECT_THAT(alice.run("list_requests books"), ElementsAre(no_requests("books")));
    EXPECT_THAT(alice.run(verb + " books bob"),
                ElementsAre("error: 'bob' has not asked to join group 'books'"))
        << verb;
}

TEST_F(GroupsTest, CreatorOwnsTheNewGroupAndEveryoneSeesIt) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    EXPECT_THAT(alice.run("create_group books"),
                ElementsAre("group books created; you are its owner"));
    EXPECT_THAT(alice.run("list_groups"), ElementsAre(member_of("books", "alice", 1)));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
}

TEST_F(GroupsTest, CreatingAnExistingGroupFails) {
    auto [alice, bob] = books();
    EXPECT_THAT(alice.run("create_group books"),
                ElementsAre("error: group 'books' already exists"));
    EXPECT_THAT(bob.run("create_group books"), ElementsAre("error: group 'books' already exists"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
}

TEST_F(GroupsTest, ListGroupsShowsEveryGroupSortedByName) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    create_group(alice, "zebra");
    create_group(bob, "apple");
    create_group(alice, "mango");
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(not_in("apple"), member_of("mango", "alice", 1),
                            member_of("zebra", "alice", 1)));
}

TEST_F(GroupsTest, JoiningANonexistentGroupFails) {
    Client& bob = logged_in("bob");
    EXPECT_THAT(bob.run("join_group nowhere"),
                ElementsAre("error: group 'nowhere' does not exist"));
}

TEST_F(GroupsTest, JoinRequestWaitsForTheOwnerAndCannotBeRepeated) {
    auto [alice, bob] = books();
    EXPECT_THAT(alice.run("list_requests books"), ElementsAre(no_requests("books")));
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("join request sent to the owner of group books"));
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("error: you already asked to join group 'books'; the owner has not "
                            "answered yet"));
    // Asking is not joining.
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
    EXPECT_THAT(alice.run("list_requests books"),
                ElementsAre(MatchesRegex("bob  requested [0-9]{4}-[0-9]{2}-[0-9]{2}.*")));
}

TEST_F(GroupsTest, OwnerCannotJoinTheirOwnGroupAndMembersCannotJoinAgain) {
    auto [alice, bob] = books();
    EXPECT_THAT(alice.run("join_group books"),
                ElementsAre("error: you are already a member of group 'books'"));
    join_group(alice, bob, "bob", "books");
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("error: you are already a member of group 'books'"));
}

TEST_F(GroupsTest, AcceptedUserBecomesAMember) {
    auto [alice, bob] = books(Bob::Asked);
    EXPECT_THAT(alice.run("accept_request books bob"),
                ElementsAre("bob is now a member of group books"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(member_of("books", "alice", 2)));
    expect_request_used_up(alice, "accept_request");
}

TEST_F(GroupsTest, RejectedUserStaysOutAndMayAskAgain) {
    auto [alice, bob] = books(Bob::Asked);
    EXPECT_THAT(alice.run("reject_request books bob"),
                ElementsAre("request from bob to join group books rejected"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
    expect_request_used_up(alice, "reject_request");
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("join request sent to the owner of group books"));
}

TEST_F(GroupsTest, ListRequestsShowsEveryPendingRequestInOrder) {
    Client& alice = books(Bob::Asked).alice;
    ask_to_join(logged_in("carol"), "books");
    EXPECT_THAT(alice.run("list_requests books"), ElementsAre(MatchesRegex("bob  requested .+"),
                                                              MatchesRegex("carol  requested .+")));
}

TEST_F(GroupsTest, OnlyTheOwnerSeesAndDecidesRequests) {
    auto [alice, bob] = books(Bob::Member);
    Client& carol = logged_in("carol");
    ask_to_join(carol, "books");
    // bob is a member but not the owner; carol is not even a member.
    for (Client* c : {&bob, &carol}) {
        EXPECT_THAT(c->run("list_requests books"),
                    ElementsAre("error: only the owner of group 'books' can see its join requests"))
            << c->name();
        EXPECT_THAT(c->run("accept_request books carol"),
                    ElementsAre("error: only the owner of group 'books' can accept requests"))
            << c->name();
        EXPECT_THAT(c->run("reject_request books carol"),
                    ElementsAre("error: only the owner of group 'books' can reject requests"))
            << c->name();
    }
    // None of that touched carol's request.
    EXPECT_THAT(alice.run("list_requests books"), ElementsAre(MatchesRegex("carol  requested .+")));
}

TEST_F(GroupsTest, RequestsForNonexistentGroupsOrUsersAreNotFound) {
    Client& alice = logged_in("alice");
    create_group(alice, "books");
    for (const char* command : {"accept_request books nobody", "reject_request books nobody"}) {
        EXPECT_THAT(alice.run(command),
                    ElementsAre("error: 'nobody' has not asked to join group 'books'"))
            << command;
    }
    for (const char* command : {"list_requests nowhere", "accept_request nowhere bob",
                                "reject_request nowhere bob", "leave_group nowhere"}) {
        EXPECT_THAT(alice.run(command), ElementsAre("error: group 'nowhere' does not exist"))
            << command;
    }
}

TEST_F(GroupsTest, LeavingAGroupYouAreNotInFails) {
    auto [alice, bob] = books();
    EXPECT_THAT(bob.run("leave_group books"),
                ElementsAre("error: you are not a member of group 'books'"));
    // A pending request does not make bob a member either.
    ask_to_join(bob, "books");
    EXPECT_THAT(bob.run("leave_group books"),
                ElementsAre("error: you are not a member of group 'books'"));
    EXPECT_THAT(alice.run("list_groups"), ElementsAre(member_of("books", "alice", 1)));
}

TEST_F(GroupsTest, MemberWhoLeavesIsNoLongerCounted) {
    Client& bob = books(Bob::Member).bob;
    EXPECT_THAT(bob.run("leave_group books"), ElementsAre("left group books"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
    EXPECT_THAT(bob.run("leave_group books"),
                ElementsAre("error: you are not a member of group 'books'"));
}

TEST_F(GroupsTest, OwnerWhoLeavesHandsTheGroupToTheLongestStandingMember) {
    auto [alice, bob] = books(Bob::Asked);
    Client& carol = logged_in("carol");
    ask_to_join(carol, "books");
    // carol asked later but became a member first: membership age is what counts.
    accept_request(alice, "books", "carol");
    accept_request(alice, "books", "bob");

    EXPECT_THAT(alice.run("leave_group books"),
                ElementsAre("left group books; carol is its new owner"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(member_of("books", "carol", 2)));
    // The new owner has the owner's rights, the old one none.
    EXPECT_THAT(carol.run("list_requests books"), ElementsAre(no_requests("books")));
    EXPECT_THAT(alice.run("list_requests books"),
                ElementsAre("error: only the owner of group 'books' can see its join requests"));

    EXPECT_THAT(carol.run("leave_group books"),
                ElementsAre("left group books; bob is its new owner"));
    EXPECT_THAT(alice.run("list_groups"), ElementsAre(not_in("books")));
}

TEST_F(GroupsTest, LastMemberWhoLeavesDeletesTheGroup) {
    auto [alice, bob] = books();
    create_group(alice, "films");
    ask_to_join(bob, "books");  // pending

    EXPECT_THAT(alice.run("leave_group books"),
                ElementsAre("left group books; it had no other members and was deleted"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("films")));
    EXPECT_THAT(bob.run("join_group books"), ElementsAre("error: group 'books' does not exist"));
    // The name is free again, with no leftover requests.
    EXPECT_THAT(bob.run("create_group books"),
                ElementsAre("group books created; you are its owner"));
    EXPECT_THAT(bob.run("list_requests books"), ElementsAre(no_requests("books")));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(not_in("books"), member_of("films", "alice", 1)));
}

TEST_F(GroupsTest, ListGroupsWithNoGroupsSaysSo) {
    Client& alice = logged_in("alice");
    EXPECT_THAT(alice.run("list_groups"), ElementsAre("(no groups yet)"));
}

}  // namespace
}  // namespace gs::e2e
