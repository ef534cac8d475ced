// Handlers: remove_member, the membership epoch in tickets, paged listings and the per-account
// quotas (SECURITY.md, Limits), each at, below and past its bound.
#include "tests/unit/handlers_fixture.hpp"

#include "shared/ids.hpp"
#include "shared/proto/frame.hpp"

#include <fmt/format.h>

namespace gs::tracker {
namespace {

using namespace test_support;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class MembershipTest : public HandlersTest {
protected:
    // Like call(), with these limits and a ticket issuer.
    Reply call_with(HandlerFn fn, const Session* who, proto::Dict args = {}) {
        Context ctx{who, *store_, now_, &tickets_};
        ctx.limits = limits_;
        return fn(ctx, proto::Value(std::move(args)));
    }

    // The epoch ("m") of the ticket get_peers gives `who` for the file `hash`.
    std::int64_t ticket_epoch(const Session& who, const std::string& hash) {
        auto r = call_with(handle_get_peers, &who, {{"group", "g"}, {"info_hash", hash}});
        EXPECT_TRUE(r.ok()) << r.error().message;
        if (!r.ok()) return -1;
        auto digest = from_hex(hash);
        auto t = verify_ticket(
            r->at("ticket").as_string(), tickets_.public_key(), *digest,
            std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count());
        EXPECT_TRUE(t.ok()) << t.error().message;
        return t.ok() ? t->epoch : -1;
    }

    Reply create(const Session& who, const std::string& group) {
        return call_with(handle_create_group, &who, {{"group", group}});
    }

    std::vector<std::string> names(const Reply& r, const std::string& list, const char* key) {
        std::vector<std::string> out;
        for (const auto& item : r->at(list).as_list()) out.emplace_back(*item.get_string(key));
        return out;
    }

    TicketIssuer tickets_{TicketSigner::generate()};
    GroupLimits limits_;
};

// ---- remove_member ----

TEST_F(MembershipTest, OwnerRemovesAMemberAndTheirShares) {
    group_g({&bob_, &carol_});
    ASSERT_TRUE(upload(bob_, InfoSpec{.name = "b.txt"}).ok());
    ASSERT_TRUE(upload(carol_, InfoSpec{.name = "c.txt", .fill = 'c'}).ok());
    ASSERT_TRUE(call_about(handle_remove_member, &alice_, "bob").ok());
    EXPECT_ERROR(call(handle_list_files, &bob_, {{"group", "g"}}), Errc::Denied,
                 "you are not a member of group 'g'");
    // bob's only-seeded file went with him; carol's stays.
    ASSERT_EQ(files(alice_).size(), 1u);
    EXPECT_EQ(files(alice_)[0].get_string("name"), "c.txt");
    auto members = store_->list_members(store_->find_group("g").value()->pk);
    ASSERT_EQ(members->size(), 2u);
    EXPECT_EQ((*members)[1].user_id, "carol");
    // bob may ask again, like anyone.
    EXPECT_TRUE(call(handle_join_group, &bob_, {{"group", "g"}}).ok());
}

TEST_F(MembershipTest, RemoveMemberErrors) {
    group_g({&bob_});
    EXPECT_ERROR(call_about(handle_remove_member, &bob_, "alice"), Errc::Denied,
                 "only the owner of group 'g' can remove members");
    EXPECT_ERROR(call_about(handle_remove_member, &alice_, "carol"), Errc::NotFound,
                 "'carol' is not a member of group 'g'");
    EXPECT_ERROR(call_about(handle_remove_member, &alice_, "nobody"), Errc::NotFound,
                 "'nobody' is not a member of group 'g'");
    EXPECT_ERROR(call_about(handle_remove_member, &alice_, "bob", "nope"), Errc::NotFound,
                 "group 'nope' does not exist");
    EXPECT_ERROR(call_about(handle_remove_member, &alice_, "alice"), Errc::BadInput,
                 "you own group 'g'; use leave_group g to leave it");
    EXPECT_ERROR(call_about(handle_remove_member, &alice_, "b b"), Errc::BadInput,
                 "invalid user id 'b b': use 1-64 letters, digits, '.', '_' or '-'");
    EXPECT_TRUE(store_->is_member(store_->find_group("g").value()->pk, bob_.user_pk).value());
}

// ---- Membership epoch ----

TEST_F(MembershipTest, TicketsCarryTheEpochWhichMovesWhenSomeoneStopsBeingAMember) {
    group_g({&bob_, &carol_});
    online(alice_);
    auto up = upload(alice_, InfoSpec{});
    ASSERT_TRUE(up.ok());
    const std::string h = up->at("info_hash").as_string();
    EXPECT_EQ(ticket_epoch(carol_, h), 0);
    // Accepting a member does not move it.
    Session dave = account("dave", "127.0.0.1:7004");
    ASSERT_TRUE(call(handle_join_group, &dave, {{"group", "g"}}).ok());
    ASSERT_TRUE(call_about(handle_accept_request, &alice_, "dave").ok());
    EXPECT_EQ(ticket_epoch(carol_, h), 0);
    ASSERT_TRUE(call(handle_leave_group, &bob_, {{"group", "g"}}).ok());
    EXPECT_EQ(ticket_epoch(carol_, h), 1);  // a fresh ticket, not the cached one
    ASSERT_TRUE(call_about(handle_remove_member, &alice_, "dave").ok());
    EXPECT_EQ(ticket_epoch(carol_, h), 2);
}

TEST_F(MembershipTest, TicketsLiveForTheIssuersLifetime) {
    TicketIssuer short_lived(TicketSigner::generate(), std::chrono::seconds(2));
    Sha1Digest d{};
    auto t = short_lived.issue("bob", "g", d, 7, 1000);
    EXPECT_EQ(t.expires, 1002);
    auto again = short_lived.issue("bob", "g", d, 7, 1000);
    EXPECT_EQ(again.ticket, t.ticket);  // reused while more than half its life is left
    auto newer = short_lived.issue("bob", "g", d, 8, 1000);
    EXPECT_NE(newer.ticket, t.ticket);  // never across epochs
    EXPECT_EQ(kTicketLifetime, std::chrono::seconds(30));
}

// ---- Paged listings ----

TEST_F(MembershipTest, ListGroupsPagesByIdAndEveryPageFits) {
    limits_.page_items = 3;
    for (int i = 0; i < 7; ++i) {
        ASSERT_TRUE(create(alice_, fmt::format("g{}", i)).ok());
    }
    std::vector<std::string> seen;
    proto::Dict args;
    int pages = 0;
    while (true) {
        auto r = call_with(handle_list_groups, &bob_, args);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ++pages;
        auto page = names(r, "groups", "group");
        EXPECT_LE(page.size(), 3u);
        seen.insert(seen.end(), page.begin(), page.end());
        if (!r->count("more")) break;
        EXPECT_EQ(r->at("next").as_string(), page.back());
        args["after"] = r->at("next").as_string();
    }
    EXPECT_EQ(pages, 3);  // 3 + 3 + 1
    EXPECT_THAT(seen, ElementsAre("g0", "g1", "g2", "g3", "g4", "g5", "g6"));
}

TEST_F(MembershipTest, AFullPageAtExactlyTheLimitSaysNoMore) {
    limits_.page_items = 3;
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(create(alice_, fmt::format("g{}", i)).ok());
    }
    auto r = call_with(handle_list_groups, &alice_);
    EXPECT_EQ(r->at("groups").as_list().size(), 3u);
    EXPECT_EQ(r->count("more"), 0u);
    ASSERT_TRUE(call_with(handle_create_group, &alice_, {{"group", "g3"}}).ok());
    r = call_with(handle_list_groups, &alice_);
    EXPECT_EQ(r->at("groups").as_list().size(), 3u);
    EXPECT_EQ(r->at("more"), proto::Value(1));
}

TEST_F(MembershipTest, APageStopsAtItsByteBudgetButHoldsAtLeastOneItem) {
    limits_.page_bytes = 1;  // smaller than any item
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(create(alice_, fmt::format("g{}", i)).ok());
    }
    auto r = call_with(handle_list_groups, &alice_);
    EXPECT_THAT(names(r, "groups", "group"), ElementsAre("g0"));
    EXPECT_EQ(r->at("more"), proto::Value(1));
    r = call_with(handle_list_groups, &alice_, {{"after", "g0"}});
    EXPECT_THAT(names(r, "groups", "group"), ElementsAre("g1"));
    EXPECT_EQ(r->count("more"), 0u);
}

TEST_F(MembershipTest, ListFilesAndListRequestsPageToo) {
    limits_.page_items = 2;
    group_g();
    for (char c : std::string("abcde")) {
        ASSERT_TRUE(upload(alice_, InfoSpec{.name = std::string(1, c) + ".txt", .fill = c}).ok());
    }
    auto r = call_with(handle_list_files, &alice_, {{"group", "g"}, {"after", "b.txt"}});
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(names(r, "files", "name"), ElementsAre("c.txt", "d.txt"));
    EXPECT_EQ(r->at("next"), proto::Value("d.txt"));
    r = call_with(handle_list_files, &alice_, {{"group", "g"}, {"after", "d.txt"}});
    EXPECT_THAT(names(r, "files", "name"), ElementsAre("e.txt"));
    EXPECT_EQ(r->count("more"), 0u);

    for (const Session* s : {&bob_, &carol_}) {
        ASSERT_TRUE(call(handle_join_group, s, {{"group", "g"}}).ok());
    }
    Session dave = account("dave", "127.0.0.1:7004");
    ASSERT_TRUE(call(handle_join_group, &dave, {{"group", "g"}}).ok());
    r = call_with(handle_list_requests, &alice_, {{"group", "g"}});
    EXPECT_THAT(names(r, "requests", "user"), ElementsAre("bob", "carol"));
    ASSERT_EQ(r->at("more"), proto::Value(1));
    r = call_with(handle_list_requests, &alice_, {{"group", "g"}, {"after", r->at("next")}});
    EXPECT_THAT(names(r, "requests", "user"), ElementsAre("dave"));
    EXPECT_ERROR(call_with(handle_list_requests, &alice_, {{"group", "g"}, {"after", "x"}}),
                 Errc::BadInput, "invalid cursor 'after': use the 'next' of the previous page");
    EXPECT_ERROR(call_with(handle_list_groups, &alice_, {{"after", std::string(256, 'a')}}),
                 Errc::BadInput, "invalid cursor 'after': over 255 bytes");
    EXPECT_TRUE(call_with(handle_list_groups, &alice_, {{"after", std::string(255, 'a')}}).ok());
    // A cursor that is not a string does not silently start again from the first page.
    EXPECT_ERROR(call_with(handle_list_files, &alice_, {{"group", "g"}, {"after", 5}}),
                 Errc::BadInput, "invalid cursor 'after': use the 'next' of the previous page");
}

// The default page is far below the frame limit even with the longest ids and names.
TEST_F(MembershipTest, ADefaultPageOfTheLongestItemsFitsTheFrameLimit) {
    ASSERT_LT(limits_.page_bytes + 1024, proto::kMaxFrameBytes);
    group_g();
    for (int i = 0; i < 3; ++i) {
        std::string name = fmt::format("{:0>255}", i);
        const char fill = static_cast<char>('a' + i);
        ASSERT_TRUE(upload(alice_, InfoSpec{.name = name, .fill = fill}).ok());
    }
    auto r = call_with(handle_list_files, &alice_, {{"group", "g"}});
    ASSERT_TRUE(r.ok());
    const std::size_t per_item = proto::encode(r->at("files").as_list()[0]).size();
    EXPECT_LT(per_item * limits_.page_items, limits_.page_bytes);
}

// ---- Quotas ----

TEST_F(MembershipTest, GroupsOwnedQuotaAtBelowAndPast) {
    limits_.groups_owned = 3;
    for (int i = 0; i < 3; ++i) {  // below, then at
        ASSERT_TRUE(create(alice_, fmt::format("g{}", i)).ok());
    }
    EXPECT_ERROR(call_with(handle_create_group, &alice_, {{"group", "g3"}}), Errc::Limit,
                 "you already own 3 groups, the most one account may own (groups quota); "
                 "leave one you own first");
    // Another account is not affected; leaving one frees a place.
    EXPECT_TRUE(call_with(handle_create_group, &bob_, {{"group", "b0"}}).ok());
    ASSERT_TRUE(call_with(handle_leave_group, &alice_, {{"group", "g0"}}).ok());
    EXPECT_TRUE(call_with(handle_create_group, &alice_, {{"group", "g3"}}).ok());
}

TEST_F(MembershipTest, PendingRequestsQuotaAtBelowAndPast) {
    limits_.pending_requests = 2;
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(create(alice_, fmt::format("g{}", i)).ok());
    }
    EXPECT_TRUE(call_with(handle_join_group, &bob_, {{"group", "g0"}}).ok());
    EXPECT_TRUE(call_with(handle_join_group, &bob_, {{"group", "g1"}}).ok());
    EXPECT_ERROR(call_with(handle_join_group, &bob_, {{"group", "g2"}}), Errc::Limit,
                 "you already have 2 join requests waiting, the most one account may have "
                 "(pending requests quota); wait until owners answer some");
    // Answers as before for a repeated request; an answered request frees a place.
    EXPECT_ERROR(call_with(handle_join_group, &bob_, {{"group", "g0"}}), Errc::AlreadyExists,
                 "you already asked to join group 'g0'; the owner has not answered yet");
    ASSERT_TRUE(call_with(handle_reject_request, &alice_, {{"group", "g0"}, {"user", "bob"}}).ok());
    EXPECT_TRUE(call_with(handle_join_group, &bob_, {{"group", "g2"}}).ok());
}

}  // namespace
}  // namespace gs::tracker
