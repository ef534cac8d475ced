// The Store cases, run against both engines: SqliteStore on a file, and PgStore on a fresh
// database of the binary's throwaway PostgreSQL cluster (tests/pg_cluster.hpp).
#include "tracker/sqlite_store.hpp"

#include "tracker/handlers/file_limits.hpp"
#include "tracker/handlers/handlers.hpp"
#include "tracker/pg/pg_store.hpp"
#include "tracker/sqlite/statement.hpp"

#include "tests/pg_cluster.hpp"
#include "tests/unit/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gs::tracker {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int kAddrs = FileLimits{}.addrs_per_file;  // seeder addresses per user per file

const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 10h;

enum class Engine { Sqlite, Postgres };

class StoreTest : public ::testing::TestWithParam<Engine> {
protected:
    void SetUp() override {
        if (GetParam() == Engine::Postgres) {
            auto uri = test::PgTestCluster::get().fresh_database();
            ASSERT_TRUE(uri.ok()) << uri.error().message;
            uri_ = *uri;
        }
        reopen();
    }

    void reopen() {
        store_.reset();
        if (GetParam() == Engine::Postgres) {
            auto opened = PgStore::open(uri_, "tracker-1");
            ASSERT_TRUE(opened.ok()) << opened.error().message;
            store_ = std::move(opened).value();
        } else {
            auto opened = SqliteStore::open(path_);
            ASSERT_TRUE(opened.ok()) << opened.error().message;
            store_ = std::move(opened).value();
        }
    }

    std::int64_t user(const std::string& id) {
        auto created = store_->create_user(id, "$argon2id$v=19$fake", kNow);
        EXPECT_TRUE(created.ok() && *created) << id;
        auto creds = store_->password_hash_of(id);
        EXPECT_TRUE(creds.ok() && creds->has_value());
        return (*creds)->user_pk;
    }

    Group group(const std::string& id, std::int64_t owner) {
        auto created = store_->create_group(id, owner, kNow);
        EXPECT_TRUE(created.ok() && *created) << id;
        auto found = store_->find_group(id);
        EXPECT_TRUE(found.ok() && found->has_value());
        return **found;
    }

    // Users alice and bob, and group g, which alice owns (bob is not in it).
    struct AliceBobG {
        std::int64_t alice;
        std::int64_t bob;
        Group g;
    };
    AliceBobG alice_bob_g() {
        auto alice = user("alice");
        auto bob = user("bob");
        return {alice, bob, group("g", alice)};
    }

    // Makes `member` a member of `g` through a request the owner accepts.
    void admit(const Group& g, std::int64_t member, const std::string& member_id) {
        ASSERT_EQ(*store_->add_join_request(g.pk, member, kNow), JoinOutcome::Requested);
        ASSERT_TRUE(*store_->accept_request(g.pk, member_id, kNow));
    }

    std::vector<std::string> members(const Group& g) {
        std::vector<std::string> ids;
        auto listed = store_->list_members(g.pk);
        EXPECT_TRUE(listed.ok());
        for (const auto& m : *listed) ids.push_back(m.user_id);
        return ids;
    }

    static NewFile file(const std::string& name, char fill) {
        return NewFile{name, std::string(40, fill),
                       "d4:name" + std::to_string(name.size()) + ":" + name + "e", 100, 16384};
    }

    // Adds file `name` (its info hash all `fill`) to `g`, shared by `who` from `addr`; its pk, or
    // -1 (with the failure recorded) when the store refuses it.
    std::int64_t add_file(const Group& g, const std::string& name, char fill, std::int64_t who,
                          const std::string& addr) {
        auto added = store_->add_file(g.pk, file(name, fill), who, addr, kNow);
        EXPECT_TRUE(added.ok() && *added) << name;
        auto found = store_->file_by_name(g.pk, name);
        EXPECT_TRUE(found.ok() && found->has_value()) << name;
        return found.ok() && found->has_value() ? (*found)->pk : -1;
    }

    // The first `columns` columns of the first row of `sql` as text, read through a second
    // connection as a person with sqlite3 or psql would.
    std::vector<std::string> first_row(const std::string& sql, int columns) {
        std::vector<std::string> row;
        if (GetParam() == Engine::Postgres) {
            pg::Conn conn(uri_);
            auto rows = conn.query(sql);
            EXPECT_TRUE(rows.ok() && !rows->empty()) << sql;
            if (!rows.ok() || rows->empty()) return row;
            for (int i = 0; i < columns; ++i) row.push_back(rows->text(0, i));
            return row;
        }
        auto db = Db::open(path_);
        EXPECT_TRUE(db.ok());
        auto q = Statement::prepare(*db, sql);
        EXPECT_TRUE(q.ok());
        EXPECT_TRUE(*q->step());
        for (int i = 0; i < columns; ++i) row.push_back(q->column_text(i));
        return row;
    }

    // Rows in `table`, counted through a second connection.
    std::int64_t rows_in(const std::string& table) {
        auto row = first_row("SELECT count(*) FROM " + table, 1);
        return row.empty() ? -1 : std::stoll(row[0]);
    }

    test::TempDir dir_;
    std::string path_ = dir_.file("tracker.db");
    std::string uri_;
    std::unique_ptr<Store> store_;
};

// ---- Accounts and sessions ----

TEST_P(StoreTest, CreatesUsersAndRefusesATakenId) {
    auto first = store_->create_user("alice", "$argon2id$one", kNow);
    ASSERT_TRUE(first.ok());
    EXPECT_TRUE(*first);
    auto again = store_->create_user("alice", "$argon2id$two", kNow);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again);
    EXPECT_TRUE(*store_->user_exists("alice"));
    EXPECT_FALSE(*store_->user_exists("bob"));
    auto creds = store_->password_hash_of("alice");
    ASSERT_TRUE(creds.ok() && creds->has_value());
    EXPECT_EQ((*creds)->password_hash, "$argon2id$one");
    EXPECT_EQ((*creds)->user_id, "alice");
}

TEST_P(StoreTest, UnknownUserHasNoPasswordHash) {
    auto creds = store_->password_hash_of("nobody");
    ASSERT_TRUE(creds.ok());
    EXPECT_FALSE(creds->has_value());
}

TEST_P(StoreTest, SessionNamesItsUserUntilItExpires) {
    auto alice = user("alice");
    ASSERT_TRUE(store_->create_session("hash1", alice, kNow, kNow + 1h).ok());
    auto found = store_->user_of_session("hash1", kNow + 59min);
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ((*found)->user_id, "alice");
    EXPECT_EQ((*found)->pk, alice);
    EXPECT_FALSE(store_->user_of_session("hash1", kNow + 1h)->has_value());
    EXPECT_FALSE(store_->user_of_session("other", kNow)->has_value());
}

TEST_P(StoreTest, DeletedSessionIsGone) {
    auto alice = user("alice");
    ASSERT_TRUE(store_->create_session("hash1", alice, kNow, kNow + 1h).ok());
    ASSERT_TRUE(store_->create_session("hash2", alice, kNow, kNow + 1h).ok());
    ASSERT_TRUE(store_->delete_session("hash1").ok());
    EXPECT_FALSE(store_->user_of_session("hash1", kNow)->has_value());
    EXPECT_TRUE(store_->user_of_session("hash2", kNow)->has_value());
}

TEST_P(StoreTest, ExpiredSessionsAreDeleted) {
    auto alice = user("alice");
    ASSERT_TRUE(store_->create_session("old", alice, kNow, kNow + 1h).ok());
    ASSERT_TRUE(store_->create_session("new", alice, kNow, kNow + 3h).ok());
    ASSERT_TRUE(store_->delete_expired_sessions(kNow + 2h).ok());
    EXPECT_EQ(rows_in("sessions"), 1);
}

// ---- Groups and requests ----

TEST_P(StoreTest, CreatorIsOwnerAndOnlyMember) {
    auto alice = user("alice");
    Group g = group("g", alice);
    EXPECT_EQ(g.group_id, "g");
    EXPECT_EQ(g.owner_pk, alice);
    EXPECT_EQ(g.owner_id, "alice");
    EXPECT_TRUE(*store_->is_member(g.pk, alice));
    EXPECT_THAT(members(g), ElementsAre("alice"));
}

TEST_P(StoreTest, GroupIdIsTakenOnlyOnce) {
    auto alice = user("alice");
    auto bob = user("bob");
    group("g", alice);
    auto again = store_->create_group("g", bob, kNow);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again);
    EXPECT_EQ((*store_->find_group("g"))->owner_id, "alice");
    EXPECT_FALSE(store_->find_group("h")->has_value());
}

TEST_P(StoreTest, JoinRequestStaysPendingUntilAccepted) {
    auto [alice, bob, g] = alice_bob_g();
    EXPECT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::Requested);
    EXPECT_FALSE(*store_->is_member(g.pk, bob));
    EXPECT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::AlreadyRequested);
    auto pending = store_->list_requests(g.pk, 0, 1000);
    ASSERT_TRUE(pending.ok());
    ASSERT_EQ(pending->size(), 1u);
    EXPECT_EQ((*pending)[0].user_id, "bob");
    EXPECT_EQ((*pending)[0].requested_at, "2026-11-25T10:00:00Z");

    EXPECT_TRUE(*store_->accept_request(g.pk, "bob", kNow));
    EXPECT_TRUE(*store_->is_member(g.pk, bob));
    EXPECT_THAT(*store_->list_requests(g.pk, 0, 1000), IsEmpty());
    EXPECT_FALSE(*store_->accept_request(g.pk, "bob", kNow)) << "accepted twice";
    EXPECT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::AlreadyMember);
}

TEST_P(StoreTest, OwnerCannotRequestToJoinOwnGroup) {
    auto alice = user("alice");
    Group g = group("g", alice);
    EXPECT_EQ(*store_->add_join_request(g.pk, alice, kNow), JoinOutcome::AlreadyMember);
}

TEST_P(StoreTest, RequestsAreListedOldestFirst) {
    auto alice = user("alice");
    Group g = group("g", alice);
    for (const char* id : {"zed", "bob", "carol"}) {
        ASSERT_EQ(*store_->add_join_request(g.pk, user(id), kNow), JoinOutcome::Requested);
    }
    std::vector<std::string> ids;
    auto pending = store_->list_requests(g.pk, 0, 1000);
    ASSERT_TRUE(pending.ok());
    for (const auto& r : *pending) ids.push_back(r.user_id);
    EXPECT_THAT(ids, ElementsAre("zed", "bob", "carol"));
}

TEST_P(StoreTest, RejectedRequestIsGoneAndTheUserMayAskAgain) {
    auto [alice, bob, g] = alice_bob_g();
    ASSERT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::Requested);
    EXPECT_TRUE(*store_->reject_request(g.pk, "bob"));
    EXPECT_FALSE(*store_->is_member(g.pk, bob));
    EXPECT_THAT(*store_->list_requests(g.pk, 0, 1000), IsEmpty());
    EXPECT_FALSE(*store_->reject_request(g.pk, "bob"));
    EXPECT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::Requested);
}

TEST_P(StoreTest, DecidingARequestThatDoesNotExistChangesNothing) {
    auto alice = user("alice");
    user("bob");
    Group g = group("g", alice);
    EXPECT_FALSE(*store_->accept_request(g.pk, "bob", kNow));
    EXPECT_FALSE(*store_->accept_request(g.pk, "nobody", kNow));
    EXPECT_FALSE(*store_->reject_request(g.pk, "bob"));
    EXPECT_THAT(members(g), ElementsAre("alice"));
}

TEST_P(StoreTest, RequestForOneGroupDoesNotCountForAnother) {
    auto [alice, bob, g] = alice_bob_g();
    Group h = group("h", alice);
    ASSERT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::Requested);
    EXPECT_FALSE(*store_->accept_request(h.pk, "bob", kNow));
    EXPECT_THAT(*store_->list_requests(h.pk, 0, 1000), IsEmpty());
}

TEST_P(StoreTest, MembersAreListedInTheOrderTheyWereAccepted) {
    auto [alice, bob, g] = alice_bob_g();
    auto carol = user("carol");
    ASSERT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::Requested);
    ASSERT_EQ(*store_->add_join_request(g.pk, carol, kNow), JoinOutcome::Requested);
    ASSERT_TRUE(*store_->accept_request(g.pk, "carol", kNow));  // same second as bob's
    ASSERT_TRUE(*store_->accept_request(g.pk, "bob", kNow));
    EXPECT_THAT(members(g), ElementsAre("alice", "carol", "bob"));
}

TEST_P(StoreTest, OwnerLeavingPassesOwnershipToTheLongestStandingMember) {
    auto [alice, bob, g] = alice_bob_g();
    auto carol = user("carol");
    admit(g, carol, "carol");  // carol joins before bob, in the same second
    admit(g, bob, "bob");

    auto left = store_->leave_group(g.pk, alice);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->was_member);
    EXPECT_EQ(left->new_owner, "carol");
    EXPECT_FALSE(left->group_deleted);
    EXPECT_EQ((*store_->find_group("g"))->owner_id, "carol");

    left = store_->leave_group(g.pk, carol);
    ASSERT_TRUE(left.ok());
    EXPECT_EQ(left->new_owner, "bob");
    EXPECT_EQ((*store_->find_group("g"))->owner_id, "bob");
}

TEST_P(StoreTest, MemberLeavingKeepsTheOwner) {
    auto [alice, bob, g] = alice_bob_g();
    admit(g, bob, "bob");
    auto left = store_->leave_group(g.pk, bob);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->was_member);
    EXPECT_FALSE(left->new_owner.has_value());
    EXPECT_FALSE(left->group_deleted);
    EXPECT_EQ((*store_->find_group("g"))->owner_id, "alice");
    EXPECT_THAT(members(g), ElementsAre("alice"));
}

TEST_P(StoreTest, RejoiningPutsAMemberAtTheBackOfTheLine) {
    auto [alice, bob, g] = alice_bob_g();
    auto carol = user("carol");
    admit(g, bob, "bob");
    admit(g, carol, "carol");
    ASSERT_TRUE(store_->leave_group(g.pk, bob).ok());
    admit(g, bob, "bob");
    auto left = store_->leave_group(g.pk, alice);
    EXPECT_EQ(left->new_owner, "carol");
}

// The membership epoch moves on, with the change, whenever someone stops being a member, and
// only then.
TEST_P(StoreTest, TheEpochMovesWhenSomeoneLeavesOrIsRemovedAndOnlyThen) {
    auto [alice, bob, g] = alice_bob_g();
    auto carol = user("carol");
    auto epoch = [&] { return (*store_->find_group("g"))->epoch; };
    EXPECT_EQ(epoch(), 0);
    admit(g, bob, "bob");
    admit(g, carol, "carol");
    EXPECT_EQ(epoch(), 0);
    ASSERT_TRUE(store_->leave_group(g.pk, bob)->was_member);
    EXPECT_EQ(epoch(), 1);
    EXPECT_FALSE(store_->leave_group(g.pk, bob)->was_member);  // not a member: no change
    EXPECT_EQ(epoch(), 1);
    ASSERT_TRUE(*store_->add_file(g.pk, file("c.txt", 'c'), carol, "127.0.0.1:7003", kNow));
    EXPECT_TRUE(*store_->remove_member(g.pk, "carol"));
    EXPECT_EQ(epoch(), 2);
    EXPECT_THAT(members(g), ElementsAre("alice"));
    EXPECT_THAT(*store_->list_files(g.pk, "", 1000), IsEmpty());  // her only-seeded file went
    EXPECT_FALSE(*store_->remove_member(g.pk, "carol"));
    EXPECT_FALSE(*store_->remove_member(g.pk, "nobody"));
    EXPECT_EQ(epoch(), 2);
}

TEST_P(StoreTest, ListsPageByKeyWithALimit) {
    auto alice = user("alice");
    for (const char* id : {"d", "b", "a", "c"}) group(id, alice);
    auto page = *store_->list_groups(alice, "", 2);
    ASSERT_EQ(page.size(), 2u);
    EXPECT_EQ(page[0].group_id, "a");
    EXPECT_EQ(page[1].group_id, "b");
    page = *store_->list_groups(alice, "b", 2);
    ASSERT_EQ(page.size(), 2u);
    EXPECT_EQ(page[0].group_id, "c");
    EXPECT_EQ(page[1].group_id, "d");
    EXPECT_THAT(*store_->list_groups(alice, "d", 2), IsEmpty());
    EXPECT_EQ(*store_->count_groups_owned(alice), 4);
}

TEST_P(StoreTest, NonMemberLeavingChangesNothing) {
    auto [alice, bob, g] = alice_bob_g();
    auto left = store_->leave_group(g.pk, bob);
    ASSERT_TRUE(left.ok());
    EXPECT_FALSE(left->was_member);
    EXPECT_THAT(members(g), ElementsAre("alice"));
}

TEST_P(StoreTest, LastMemberLeavingDeletesTheGroupWithItsRequestsAndFiles) {
    auto [alice, bob, g] = alice_bob_g();
    ASSERT_EQ(*store_->add_join_request(g.pk, bob, kNow), JoinOutcome::Requested);
    ASSERT_TRUE(*store_->add_file(g.pk, file("a.txt", 'a'), alice, "127.0.0.1:7001", kNow));

    auto left = store_->leave_group(g.pk, alice);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->group_deleted);
    EXPECT_FALSE(left->new_owner.has_value());
    EXPECT_FALSE(store_->find_group("g")->has_value());
    for (const char* table : {"groups", "memberships", "join_requests", "files", "seeders"}) {
        EXPECT_EQ(rows_in(table), 0) << table;
    }
    // The id is free again, with nothing left over.
    Group again = group("g", bob);
    EXPECT_THAT(*store_->list_requests(again.pk, 0, 1000), IsEmpty());
    EXPECT_THAT(*store_->list_files(again.pk, "", 1000), IsEmpty());
}

TEST_P(StoreTest, ListsEveryGroupWithOwnerMemberCountAndMembership) {
    auto alice = user("alice");
    auto bob = user("bob");
    group("zeta", bob);
    Group a = group("alpha", alice);
    admit(a, bob, "bob");
    group("mid", alice);
    auto groups = store_->list_groups(bob, "", 1000);
    ASSERT_TRUE(groups.ok());
    ASSERT_EQ(groups->size(), 3u);
    EXPECT_EQ((*groups)[0].group_id, "alpha");
    EXPECT_EQ((*groups)[0].owner_id, "alice");
    EXPECT_EQ((*groups)[0].members, 2);
    EXPECT_TRUE((*groups)[0].is_member);
    EXPECT_EQ((*groups)[1].group_id, "mid");
    EXPECT_FALSE((*groups)[1].is_member);
    EXPECT_EQ((*groups)[1].members, 1);
    EXPECT_EQ((*groups)[2].group_id, "zeta");
    EXPECT_TRUE((*groups)[2].is_member);
}

// ---- Files and seeders ----

TEST_P(StoreTest, AddedFileHasItsUploaderAsFirstSeeder) {
    auto alice = user("alice");
    Group g = group("g", alice);
    NewFile f = file("a.txt", 'a');
    f.info = std::string("d\0\xff", 3);  // the blob keeps every byte
    ASSERT_TRUE(*store_->add_file(g.pk, f, alice, "127.0.0.1:7001", kNow));
    auto found = store_->file_by_name(g.pk, "a.txt");
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ((*found)->info_hash, f.info_hash);
    EXPECT_EQ((*found)->info, f.info);
    EXPECT_EQ((*found)->length, 100);
    EXPECT_EQ((*found)->piece_length, 16384);
    EXPECT_EQ((*found)->uploaded_by, "alice");
    EXPECT_EQ((*found)->created_at, "2026-11-25T10:00:00Z");
    auto by_hash = store_->file_by_hash(g.pk, f.info_hash);
    ASSERT_TRUE(by_hash.ok() && by_hash->has_value());
    EXPECT_EQ((*by_hash)->name, "a.txt");
    EXPECT_THAT(*store_->seeders_of((*found)->pk), ElementsAre(Seeder{"alice", "127.0.0.1:7001"}));
}

TEST_P(StoreTest, FileNameAndInfoHashAreUniqueWithinAGroupOnly) {
    auto alice = user("alice");
    Group g = group("g", alice);
    Group h = group("h", alice);
    ASSERT_TRUE(*store_->add_file(g.pk, file("a.txt", 'a'), alice, "127.0.0.1:7001", kNow));
    EXPECT_FALSE(*store_->add_file(g.pk, file("a.txt", 'b'), alice, "127.0.0.1:7001", kNow));
    EXPECT_FALSE(*store_->add_file(g.pk, file("b.txt", 'a'), alice, "127.0.0.1:7001", kNow));
    EXPECT_TRUE(*store_->add_file(h.pk, file("a.txt", 'a'), alice, "127.0.0.1:7001", kNow));
    EXPECT_FALSE(store_->file_by_name(g.pk, "b.txt")->has_value());
}

TEST_P(StoreTest, AddingASeederTwiceChangesNothing) {
    auto [alice, bob, g] = alice_bob_g();
    const auto pk = add_file(g, "a.txt", 'a', alice, "127.0.0.1:7001");
    EXPECT_FALSE(*store_->add_seeder(pk, alice, "127.0.0.1:7001", kNow, kAddrs));
    EXPECT_TRUE(*store_->add_seeder(pk, bob, "127.0.0.1:7002", kNow, kAddrs));
    EXPECT_FALSE(*store_->add_seeder(pk, bob, "127.0.0.1:7002", kNow, kAddrs));
    EXPECT_TRUE(*store_->add_seeder(pk, bob, "127.0.0.1:7003", kNow, kAddrs));
    EXPECT_THAT(*store_->seeders_of(pk),
                ElementsAre(Seeder{"alice", "127.0.0.1:7001"}, Seeder{"bob", "127.0.0.1:7002"},
                            Seeder{"bob", "127.0.0.1:7003"}));
}

TEST_P(StoreTest, ListsFilesByNameWithTheirSeeders) {
    auto [alice, bob, g] = alice_bob_g();
    const auto b_txt = add_file(g, "b.txt", 'b', alice, "127.0.0.1:7001");
    add_file(g, "a.txt", 'a', bob, "127.0.0.1:7002");
    ASSERT_TRUE(*store_->add_seeder(b_txt, bob, "127.0.0.1:7002", kNow, kAddrs));
    auto files = store_->list_files(g.pk, "", 1000);
    ASSERT_TRUE(files.ok());
    ASSERT_EQ(files->size(), 2u);
    EXPECT_EQ((*files)[0].name, "a.txt");
    EXPECT_EQ((*files)[0].info_hash, std::string(40, 'a'));
    EXPECT_EQ((*files)[0].length, 100);
    EXPECT_THAT((*files)[0].seeders, ElementsAre(Seeder{"bob", "127.0.0.1:7002"}));
    EXPECT_EQ((*files)[1].name, "b.txt");
    EXPECT_THAT((*files)[1].seeders,
                ElementsAre(Seeder{"alice", "127.0.0.1:7001"}, Seeder{"bob", "127.0.0.1:7002"}));
}

TEST_P(StoreTest, RemovingTheLastSeederRemovesTheFile) {
    auto [alice, bob, g] = alice_bob_g();
    const auto pk = add_file(g, "a.txt", 'a', alice, "127.0.0.1:7001");
    ASSERT_TRUE(*store_->add_seeder(pk, alice, "127.0.0.1:7009", kNow, kAddrs));
    ASSERT_TRUE(*store_->add_seeder(pk, bob, "127.0.0.1:7002", kNow, kAddrs));

    EXPECT_EQ(*store_->remove_seeder(pk, alice), 2) << "every address of the user goes";
    EXPECT_TRUE(store_->file_by_name(g.pk, "a.txt")->has_value());
    EXPECT_EQ(*store_->remove_seeder(pk, alice), 0);
    EXPECT_EQ(*store_->remove_seeder(pk, bob), 1);
    EXPECT_FALSE(store_->file_by_name(g.pk, "a.txt")->has_value());
    EXPECT_THAT(*store_->list_files(g.pk, "", 1000), IsEmpty());
    EXPECT_EQ(rows_in("seeders"), 0);
}

TEST_P(StoreTest, LeavingRemovesTheMembersSharesInThatGroupOnly) {
    auto [alice, bob, g] = alice_bob_g();
    Group h = group("h", bob);
    admit(g, bob, "bob");
    add_file(g, "mine.txt", 'a', bob, "127.0.0.1:7002");
    const auto both = add_file(g, "both.txt", 'b', alice, "127.0.0.1:7001");
    ASSERT_TRUE(*store_->add_seeder(both, bob, "127.0.0.1:7002", kNow, kAddrs));
    add_file(h, "other.txt", 'c', bob, "127.0.0.1:7002");

    ASSERT_TRUE(store_->leave_group(g.pk, bob)->was_member);
    auto files = *store_->list_files(g.pk, "", 1000);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].name, "both.txt");
    EXPECT_THAT(files[0].seeders, ElementsAre(Seeder{"alice", "127.0.0.1:7001"}));
    EXPECT_EQ(store_->list_files(h.pk, "", 1000)->size(), 1u);
}

TEST_P(StoreTest, RemovesAUsersSharesInAGroup) {
    auto [alice, bob, g] = alice_bob_g();
    ASSERT_TRUE(*store_->add_file(g.pk, file("a.txt", 'a'), alice, "127.0.0.1:7001", kNow));
    ASSERT_TRUE(*store_->add_file(g.pk, file("b.txt", 'b'), bob, "127.0.0.1:7002", kNow));
    EXPECT_EQ(*store_->remove_user_shares_in_group(g.pk, alice), 1);
    auto files = *store_->list_files(g.pk, "", 1000);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].name, "b.txt");
    EXPECT_EQ(*store_->remove_user_shares_in_group(g.pk, alice), 0);
}

// ---- Durability ----

TEST_P(StoreTest, EverythingSurvivesReopening) {
    auto [alice, bob, g] = alice_bob_g();
    auto carol = user("carol");
    admit(g, bob, "bob");
    ASSERT_EQ(*store_->add_join_request(g.pk, carol, kNow), JoinOutcome::Requested);
    ASSERT_TRUE(store_->create_session("tok", alice, kNow, kNow + 1h).ok());
    ASSERT_TRUE(*store_->add_file(g.pk, file("a.txt", 'a'), bob, "127.0.0.1:7002", kNow));

    reopen();

    EXPECT_TRUE(*store_->user_exists("alice"));
    EXPECT_EQ((*store_->user_of_session("tok", kNow))->user_id, "alice");
    auto again = store_->find_group("g");
    ASSERT_TRUE(again.ok() && again->has_value());
    EXPECT_EQ((*again)->owner_id, "alice");
    EXPECT_THAT(members(**again), ElementsAre("alice", "bob"));
    EXPECT_EQ((*store_->list_requests(g.pk, 0, 1000))[0].user_id, "carol");
    auto files = *store_->list_files(g.pk, "", 1000);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_THAT(files[0].seeders, ElementsAre(Seeder{"bob", "127.0.0.1:7002"}));
}

TEST_P(StoreTest, TimestampsAreReadableUtcText) {
    auto alice = user("alice");
    group("g", alice);
    auto row = first_row("SELECT u.created_at, m.joined_at FROM users u, memberships m", 2);
    ASSERT_EQ(row.size(), 2u);
    EXPECT_EQ(row[0], "2026-11-25T10:00:00Z");
    EXPECT_EQ(row[1], "2026-11-25T10:00:00Z");
}

// The README's views exist on both engines and show rows by name.
TEST_P(StoreTest, ViewsShowRowsByName) {
    auto [alice, bob, g] = alice_bob_g();
    auto carol = user("carol");
    admit(g, bob, "bob");
    ASSERT_EQ(*store_->add_join_request(g.pk, carol, kNow), JoinOutcome::Requested);
    add_file(g, "a.txt", 'a', bob, "127.0.0.1:7002");
    EXPECT_EQ(first_row("SELECT \"group\", \"user\" FROM members_view WHERE \"user\" = 'bob'", 2),
              (std::vector<std::string>{"g", "bob"}));
    EXPECT_EQ(first_row("SELECT \"group\", \"user\" FROM join_requests_view", 2),
              (std::vector<std::string>{"g", "carol"}));
    EXPECT_EQ(first_row("SELECT \"group\", file, \"user\", listen_addr FROM seeders_view", 4),
              (std::vector<std::string>{"g", "a.txt", "bob", "127.0.0.1:7002"}));
}

std::string engine_name(const ::testing::TestParamInfo<Engine>& engine) {
    return engine.param == Engine::Sqlite ? "Sqlite" : "Postgres";
}

// PostgreSQL text must be valid UTF-8 without NUL, SQLite takes any bytes: a file name, id or
// paging cursor outside that gets the same bad_input from the handlers on both engines, never an
// `internal` error from PostgreSQL.
TEST_P(StoreTest, NamesPostgresqlCannotStoreAreTheSameBadInputOnBothEngines) {
    auto [alice, bob, g] = alice_bob_g();
    ASSERT_NE(add_file(g, "a.txt", 'a', alice, "127.0.0.1:7001"), -1);
    const Session session{alice, "alice", "127.0.0.1:7001", ""};
    auto call = [&](HandlerFn fn, proto::Dict args) {
        Context ctx{&session, *store_, kNow};
        return fn(ctx, proto::Value(std::move(args)));
    };
    const std::string latin1 = "caf\xe9.txt";
    const std::string with_nul("a\0b", 3);
    for (HandlerFn fn : {handle_get_file, handle_stop_share}) {
        auto r = call(fn, {{"group", "g"}, {"name", latin1}});
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, Errc::BadInput);
        EXPECT_EQ(r.error().message, "invalid file name 'caf\\xe9.txt': it is not valid UTF-8");
        r = call(fn, {{"group", "g"}, {"name", with_nul}});
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, Errc::BadInput);
        EXPECT_THAT(r.error().message, ::testing::StartsWith("invalid file name 'a\\x00b'"));
    }
    for (const std::string& bad : {latin1, with_nul}) {
        auto r = call(handle_list_files, {{"group", bad}});
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, Errc::BadInput) << r.error().message;
        for (HandlerFn fn : {handle_list_files, handle_list_groups}) {
            r = call(fn, {{"group", "g"}, {"after", bad}});
            ASSERT_FALSE(r.ok());
            EXPECT_EQ(r.error().code, Errc::BadInput) << r.error().message;
        }
    }
    // Valid names still work on both.
    EXPECT_TRUE(call(handle_get_file, {{"group", "g"}, {"name", "a.txt"}}).ok());
    EXPECT_TRUE(call(handle_list_files, {{"group", "g"}, {"after", "a.txt"}}).ok());
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreTest, ::testing::Values(Engine::Sqlite, Engine::Postgres),
                         engine_name);

}  // namespace
}  // namespace gs::tracker
