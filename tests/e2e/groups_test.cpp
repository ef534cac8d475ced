// Groups end to end: create, join, the owner's requests, accept/reject, leave with owner
// hand-over and deletion, list_groups (docs/protocol.md §1.3).
#include "tests/e2e/harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gs::e2e {
namespace {

// What list_groups shows for a group the user is not in: only its id (SECURITY.md).
std::string not_in(const std::string& group) {
    return group + "  (not a member; join_group " + group + " to ask)";
}

using ::testing::ElementsAre;
using ::testing::MatchesRegex;

using GroupsTest = E2eTest;

TEST_F(GroupsTest, CreatorOwnsTheNewGroupAndEveryoneSeesIt) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    EXPECT_THAT(alice.run("create_group books"),
                ElementsAre("group books created; you are its owner"));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre("books  owner=alice  members=1  (you are a member)"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
}

TEST_F(GroupsTest, CreatingAnExistingGroupFails) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    EXPECT_THAT(alice.run("create_group books"), ElementsAre("error: group 'books' already exists"));
    EXPECT_THAT(bob.run("create_group books"), ElementsAre("error: group 'books' already exists"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
}

TEST_F(GroupsTest, ListGroupsShowsEveryGroupSortedByName) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group zebra", "group zebra created; you are its owner");
    bob.must("create_group apple", "group apple created; you are its owner");
    alice.must("create_group mango", "group mango created; you are its owner");
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(not_in("apple"),
                            "mango  owner=alice  members=1  (you are a member)",
                            "zebra  owner=alice  members=1  (you are a member)"));
}

TEST_F(GroupsTest, JoiningANonexistentGroupFails) {
    Client& bob = logged_in("bob");
    EXPECT_THAT(bob.run("join_group nowhere"), ElementsAre("error: group 'nowhere' does not exist"));
}

TEST_F(GroupsTest, JoinRequestWaitsForTheOwnerAndCannotBeRepeated) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    EXPECT_THAT(alice.run("list_requests books"),
                ElementsAre("(no pending requests for group books)"));
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
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    EXPECT_THAT(alice.run("join_group books"),
                ElementsAre("error: you are already a member of group 'books'"));
    bob.must("join_group books", "join request sent to the owner of group books");
    alice.must("accept_request books bob", "bob is now a member of group books");
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("error: you are already a member of group 'books'"));
}

TEST_F(GroupsTest, AcceptedUserBecomesAMember) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    bob.must("join_group books", "join request sent to the owner of group books");
    EXPECT_THAT(alice.run("accept_request books bob"),
                ElementsAre("bob is now a member of group books"));
    EXPECT_THAT(bob.run("list_groups"),
                ElementsAre("books  owner=alice  members=2  (you are a member)"));
    EXPECT_THAT(alice.run("list_requests books"),
                ElementsAre("(no pending requests for group books)"));
    // The request is used up: accepting it again finds nothing.
    EXPECT_THAT(alice.run("accept_request books bob"),
                ElementsAre("error: 'bob' has not asked to join group 'books'"));
}

TEST_F(GroupsTest, RejectedUserStaysOutAndMayAskAgain) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    bob.must("join_group books", "join request sent to the owner of group books");
    EXPECT_THAT(alice.run("reject_request books bob"),
                ElementsAre("request from bob to join group books rejected"));
    EXPECT_THAT(alice.run("list_requests books"),
                ElementsAre("(no pending requests for group books)"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
    EXPECT_THAT(alice.run("reject_request books bob"),
                ElementsAre("error: 'bob' has not asked to join group 'books'"));
    EXPECT_THAT(bob.run("join_group books"),
                ElementsAre("join request sent to the owner of group books"));
}

TEST_F(GroupsTest, ListRequestsShowsEveryPendingRequestInOrder) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    Client& carol = logged_in("carol");
    alice.must("create_group books", "group books created; you are its owner");
    bob.must("join_group books", "join request sent to the owner of group books");
    carol.must("join_group books", "join request sent to the owner of group books");
    EXPECT_THAT(alice.run("list_requests books"),
                ElementsAre(MatchesRegex("bob  requested .+"), MatchesRegex("carol  requested .+")));
}

TEST_F(GroupsTest, OnlyTheOwnerSeesAndDecidesRequests) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    Client& carol = logged_in("carol");
    alice.must("create_group books", "group books created; you are its owner");
    bob.must("join_group books", "join request sent to the owner of group books");
    alice.must("accept_request books bob", "bob is now a member of group books");
    carol.must("join_group books", "join request sent to the owner of group books");
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
    alice.must("create_group books", "group books created; you are its owner");
    EXPECT_THAT(alice.run("accept_request books nobody"),
                ElementsAre("error: 'nobody' has not asked to join group 'books'"));
    EXPECT_THAT(alice.run("reject_request books nobody"),
                ElementsAre("error: 'nobody' has not asked to join group 'books'"));
    EXPECT_THAT(alice.run("list_requests nowhere"),
                ElementsAre("error: group 'nowhere' does not exist"));
    EXPECT_THAT(alice.run("accept_request nowhere bob"),
                ElementsAre("error: group 'nowhere' does not exist"));
    EXPECT_THAT(alice.run("reject_request nowhere bob"),
                ElementsAre("error: group 'nowhere' does not exist"));
    EXPECT_THAT(alice.run("leave_group nowhere"),
                ElementsAre("error: group 'nowhere' does not exist"));
}

TEST_F(GroupsTest, LeavingAGroupYouAreNotInFails) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    EXPECT_THAT(bob.run("leave_group books"),
                ElementsAre("error: you are not a member of group 'books'"));
    // A pending request does not make bob a member either.
    bob.must("join_group books", "join request sent to the owner of group books");
    EXPECT_THAT(bob.run("leave_group books"),
                ElementsAre("error: you are not a member of group 'books'"));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre("books  owner=alice  members=1  (you are a member)"));
}

TEST_F(GroupsTest, MemberWhoLeavesIsNoLongerCounted) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    bob.must("join_group books", "join request sent to the owner of group books");
    alice.must("accept_request books bob", "bob is now a member of group books");
    EXPECT_THAT(bob.run("leave_group books"), ElementsAre("left group books"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("books")));
    EXPECT_THAT(bob.run("leave_group books"),
                ElementsAre("error: you are not a member of group 'books'"));
}

TEST_F(GroupsTest, OwnerWhoLeavesHandsTheGroupToTheLongestStandingMember) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    Client& carol = logged_in("carol");
    alice.must("create_group books", "group books created; you are its owner");
    bob.must("join_group books", "join request sent to the owner of group books");
    carol.must("join_group books", "join request sent to the owner of group books");
    // carol asked later but became a member first: membership age is what counts.
    alice.must("accept_request books carol", "carol is now a member of group books");
    alice.must("accept_request books bob", "bob is now a member of group books");

    EXPECT_THAT(alice.run("leave_group books"),
                ElementsAre("left group books; carol is its new owner"));
    EXPECT_THAT(bob.run("list_groups"),
                ElementsAre("books  owner=carol  members=2  (you are a member)"));
    // The new owner has the owner's rights, the old one none.
    EXPECT_THAT(carol.run("list_requests books"),
                ElementsAre("(no pending requests for group books)"));
    EXPECT_THAT(alice.run("list_requests books"),
                ElementsAre("error: only the owner of group 'books' can see its join requests"));

    EXPECT_THAT(carol.run("leave_group books"),
                ElementsAre("left group books; bob is its new owner"));
    EXPECT_THAT(alice.run("list_groups"), ElementsAre(not_in("books")));
}

TEST_F(GroupsTest, LastMemberWhoLeavesDeletesTheGroup) {
    Client& alice = logged_in("alice");
    Client& bob = logged_in("bob");
    alice.must("create_group books", "group books created; you are its owner");
    alice.must("create_group films", "group films created; you are its owner");
    bob.must("join_group books", "join request sent to the owner of group books");  // pending

    EXPECT_THAT(alice.run("leave_group books"),
                ElementsAre("left group books; it had no other members and was deleted"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre(not_in("films")));
    EXPECT_THAT(bob.run("join_group books"), ElementsAre("error: group 'books' does not exist"));
    // The name is free again, with no leftover requests.
    EXPECT_THAT(bob.run("create_group books"), ElementsAre("group books created; you are its owner"));
    EXPECT_THAT(bob.run("list_requests books"),
                ElementsAre("(no pending requests for group books)"));
    EXPECT_THAT(alice.run("list_groups"),
                ElementsAre(not_in("books"),
                            "films  owner=alice  members=1  (you are a member)"));
}

TEST_F(GroupsTest, ListGroupsWithNoGroupsSaysSo) {
    Client& alice = logged_in("alice");
    EXPECT_THAT(alice.run("list_groups"), ElementsAre("(no groups yet)"));
}

}  // namespace
}  // namespace gs::e2e
