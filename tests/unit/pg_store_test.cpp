// What only PgStore does: several connections (trackers) on one database racing on the same
// write, applying migrations together, sharing presence and the ticket key, and losing the
// database. Runs on the binary's throwaway cluster (tests/pg_cluster.hpp).
#include "tracker/pg/pg_store.hpp"
#include "shared/net/event_loop.hpp"
#include "tracker/store_runner.hpp"

#include "tests/pg_cluster.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

namespace gs::tracker {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 10h;
constexpr int kRounds = 50;

class PgStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto uri = test::PgTestCluster::get().fresh_database(test::PgTestCluster::Schema::Empty);
        ASSERT_TRUE(uri.ok()) << uri.error().message;
        uri_ = *uri;
    }

    std::unique_ptr<PgStore> open(const std::string& tracker_id = "tracker-1") {
        auto opened = PgStore::open(uri_, tracker_id);
        EXPECT_TRUE(opened.ok()) << opened.error().message;
        return opened.ok() ? std::move(opened).value() : nullptr;
    }

    std::int64_t count(const std::string& sql) {
        pg::Conn conn(uri_);
        auto rows = conn.query(sql);
        EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().message);
        return rows.ok() ? rows->integer(0, 0) : -1;
    }

    static std::int64_t user(Store& store, const std::string& id) {
        EXPECT_TRUE(*store.create_user(id, "$argon2id$fake", kNow));
        return (*store.password_hash_of(id))->user_pk;
    }

    // alice, her group g and the file a.txt she seeds there from 127.0.0.1:7001.
    struct SharedFile {
        std::int64_t alice;
        Group g;
        std::int64_t file_pk;
    };
    static SharedFile alice_seeds_a_file(Store& store) {
        auto alice = user(store, "alice");
        EXPECT_TRUE(*store.create_group("g", alice, kNow));
        auto g = **store.find_group("g");
        EXPECT_TRUE(*store.add_file(g.pk,
                                    NewFile{"a.txt", std::string(40, 'a'), "d4:infoe", 1, 16384},
                                    alice, "127.0.0.1:7001", kNow));
        return {alice, g, **store.file_pk_by_hash(g.pk, std::string(40, 'a'))};
    }

    // Runs first(a) and second(b) on two threads released at the same moment.
    template <class F, class G>
    static void race(F first, G second) {
        std::latch start(2);
        std::thread t([&] {
            start.arrive_and_wait();
            first();
        });
        start.arrive_and_wait();
        second();
        t.join();
    }

    std::string uri_;
};

// ---- Races between two trackers: exactly one winner ----

TEST_F(PgStoreTest, TwoTrackersCreatingOneUserIdMakeOneAccount) {
    auto a = open("tracker-a");
    auto b = open("tracker-b");
    for (int i = 0; i < kRounds; ++i) {
        const std::string id = "user" + std::to_string(i);
        Result<bool> ra = false, rb = false;
        race([&] { ra = a->create_user(id, "$argon2id$a", kNow); },
             [&] { rb = b->create_user(id, "$argon2id$b", kNow); });
        ASSERT_TRUE(ra.ok() && rb.ok());
        EXPECT_NE(*ra, *rb) << "round " << i << ": exactly one tracker makes " << id;
    }
    EXPECT_EQ(count("SELECT count(*) FROM users"), kRounds);
}

TEST_F(PgStoreTest, TwoTrackersAcceptingOneRequestAdmitOnce) {
    auto a = open("tracker-a");
    auto b = open("tracker-b");
    auto owner = user(*a, "owner");
    for (int i = 0; i < kRounds; ++i) {
        const std::string gid = "g" + std::to_string(i);
        const std::string uid = "u" + std::to_string(i);
        ASSERT_TRUE(*a->create_group(gid, owner, kNow));
        auto g = **a->find_group(gid);
        auto member = user(*a, uid);
        ASSERT_EQ(*a->add_join_request(g.pk, member, kNow), JoinOutcome::Requested);
        Result<bool> ra = false, rb = false;
        race([&] { ra = a->accept_request(g.pk, uid, kNow); },
             [&] { rb = b->accept_request(g.pk, uid, kNow); });
        ASSERT_TRUE(ra.ok() && rb.ok());
        EXPECT_NE(*ra, *rb) << "round " << i << ": exactly one tracker accepts";
        EXPECT_EQ(b->list_members(g.pk)->size(), 2u);
    }
}

TEST_F(PgStoreTest, TwoTrackersUploadingOneNameWithTwoContentsKeepOne) {
    auto a = open("tracker-a");
    auto b = open("tracker-b");
    auto owner = user(*a, "owner");
    ASSERT_TRUE(*a->create_group("g", owner, kNow));
    auto g = **a->find_group("g");
    for (int i = 0; i < kRounds; ++i) {
        const std::string name = "f" + std::to_string(i);
        auto file = [&](char fill) {
            return NewFile{name, std::string(40, fill), "d4:infoe", 100, 16384};
        };
        Result<bool> ra = false, rb = false;
        race([&] { ra = a->add_file(g.pk, file('a'), owner, "127.0.0.1:7001", kNow); },
             [&] { rb = b->add_file(g.pk, file('b'), owner, "127.0.0.1:7002", kNow); });
        ASSERT_TRUE(ra.ok() && rb.ok());
        ASSERT_NE(*ra, *rb) << "round " << i << ": exactly one content is kept";
        auto kept = **a->file_by_name(g.pk, name);
        EXPECT_EQ(kept.info_hash, std::string(40, *ra ? 'a' : 'b'));
        EXPECT_EQ(a->seeders_of(kept.pk)->size(), 1u);
        // Both hashes are taken now, so the next round uses fresh ones by deleting this one.
        ASSERT_TRUE(*a->remove_file(kept.pk));
    }
}

// ---- Migrations ----

TEST_F(PgStoreTest, TrackersStartingTogetherApplyEachMigrationOnce) {
    constexpr int kTrackers = 6;
    std::latch start(kTrackers);
    std::atomic<int> opened{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kTrackers; ++i) {
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
            auto store = PgStore::open(uri_, "tracker-" + std::to_string(i));
            if (store.ok())
                ++opened;
            else
                ADD_FAILURE() << store.error().message;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(opened.load(), kTrackers);
    const auto n = static_cast<std::int64_t>(embedded_pg_migrations().size());
    EXPECT_EQ(count("SELECT count(*) FROM schema_version"), n);
    EXPECT_EQ(count("SELECT count(DISTINCT version) FROM schema_version"), n);
    EXPECT_EQ(count("SELECT max(version) FROM schema_version"), n);
}

TEST_F(PgStoreTest, RefusesADatabaseNewerThanItsMigrations) {
    ASSERT_NE(open(), nullptr);
    const auto& all = embedded_pg_migrations();
    std::vector<Migration> fewer(all.begin(), all.end() - 1);
    auto refused = PgStore::open(uri_, "old-tracker", fewer);
    ASSERT_FALSE(refused.ok());
    EXPECT_THAT(refused.error().message, HasSubstr("use a newer tracker"));
}

// ---- The set's ticket key ----

TEST_F(PgStoreTest, EveryTrackerSignsWithTheSameKey) {
    auto a = open("tracker-a");
    auto b = open("tracker-b");
    Result<TicketSigner> ka = make_error(Errc::Internal, "");
    Result<TicketSigner> kb = make_error(Errc::Internal, "");
    race([&] { ka = a->load_or_create_ticket_signer(); },
         [&] { kb = b->load_or_create_ticket_signer(); });
    ASSERT_TRUE(ka.ok() && kb.ok());
    EXPECT_EQ(ka->public_key(), kb->public_key());
    auto again = open("tracker-c")->load_or_create_ticket_signer();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->public_key(), ka->public_key());
    EXPECT_EQ(count("SELECT count(*) FROM ticket_key"), 1);
}

// ---- Presence ----

TEST_F(PgStoreTest, ASeederOnlineThroughOneTrackerIsOnlineForAll) {
    auto a = open("tracker-a");
    auto b = open("tracker-b");
    auto [alice, g, pk] = alice_seeds_a_file(*a);
    const auto now = std::chrono::system_clock::now();

    EXPECT_THAT(*b->seeders_of(pk), ElementsAre(Seeder{"alice", "127.0.0.1:7001", false}));
    ASSERT_TRUE(a->heartbeat(now).ok());
    ASSERT_TRUE(a->set_online(1, alice, "127.0.0.1:7001", "").ok());
    EXPECT_THAT(*b->seeders_of(pk), ElementsAre(Seeder{"alice", "127.0.0.1:7001", true}));
    auto files = *b->list_files(g.pk, "", 10);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_THAT(files[0].seeders, ElementsAre(Seeder{"alice", "127.0.0.1:7001", true}));

    // Another address of the same user is not this seeder.
    ASSERT_TRUE(a->set_online(1, alice, "127.0.0.1:7999", "").ok());
    EXPECT_FALSE((*b->seeders_of(pk))[0].online);
    ASSERT_TRUE(a->set_online(1, alice, "127.0.0.1:7001", "").ok());
    ASSERT_TRUE(a->set_offline(1).ok());
    EXPECT_FALSE((*b->seeders_of(pk))[0].online);
}

TEST_F(PgStoreTest, PresenceEndsWithTheTrackersLease) {
    auto a = open("tracker-a");
    auto a2 = open("tracker-a");  // another worker of the same tracker: the same lease
    auto b = open("tracker-b");
    auto [alice, g, pk] = alice_seeds_a_file(*a);
    const auto now = std::chrono::system_clock::now();

    ASSERT_TRUE(a->heartbeat(now).ok());
    ASSERT_TRUE(a2->set_online(7, alice, "127.0.0.1:7001", "").ok());
    EXPECT_TRUE((*b->seeders_of(pk))[0].online);
    EXPECT_EQ(count("SELECT count(*) FROM tracker_leases"), 1);

    // Tracker a's lease ran out an hour ago (it stopped renewing): its rows do not count...
    {
        pg::Conn admin(uri_);
        ASSERT_TRUE(admin
                        .query("UPDATE tracker_leases SET lease_until = now() - interval '1 hour'"
                               " WHERE tracker_id = 'tracker-a'")
                        .ok());
    }
    EXPECT_FALSE((*b->seeders_of(pk))[0].online);
    EXPECT_EQ(count("SELECT count(*) FROM presence"), 1);
    // ... and the next heartbeat of another tracker clears them away.
    ASSERT_TRUE(b->heartbeat(now).ok());
    EXPECT_EQ(count("SELECT count(*) FROM presence"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM tracker_leases WHERE tracker_id = 'tracker-a'"), 0);
}

TEST_F(PgStoreTest, ReleaseEndsTheTrackersPresenceAtOnce) {
    auto a = open("tracker-a");
    auto a2 = open("tracker-a");
    auto b = open("tracker-b");
    auto [alice, g, pk] = alice_seeds_a_file(*a);
    const auto now = std::chrono::system_clock::now();
    ASSERT_TRUE(a->heartbeat(now).ok());
    ASSERT_TRUE(b->heartbeat(now).ok());
    ASSERT_TRUE(a2->set_online(7, alice, "127.0.0.1:7001", "").ok());
    ASSERT_TRUE((*b->seeders_of(pk))[0].online);

    // A clean stop: alice is offline now, not when the lease would have run out.
    ASSERT_TRUE(a->release().ok());
    EXPECT_FALSE((*b->seeders_of(pk))[0].online);
    EXPECT_EQ(count("SELECT count(*) FROM presence"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM tracker_leases WHERE tracker_id = 'tracker-a'"), 0);
    // Other trackers keep theirs.
    EXPECT_EQ(count("SELECT count(*) FROM tracker_leases WHERE tracker_id = 'tracker-b'"), 1);
}

TEST_F(PgStoreTest, AStoreRunnerReleasesTheLeaseWhenItStops) {
    auto b = open("tracker-b");
    auto [alice, g, pk] = alice_seeds_a_file(*b);
    {
        net::EventLoop loop;
        StoreRunner runner(loop, 2, [&]() -> std::unique_ptr<Store> { return open("tracker-a"); });
        // Presence through one of the runner's connections (as a Dispatcher puts it there).
        auto a = open("tracker-a");
        ASSERT_TRUE(a->set_online(1, alice, "127.0.0.1:7001", "").ok());
        ASSERT_TRUE((*b->seeders_of(pk))[0].online);
    }
    EXPECT_FALSE((*b->seeders_of(pk))[0].online);
    EXPECT_EQ(count("SELECT count(*) FROM tracker_leases WHERE tracker_id = 'tracker-a'"), 0);
}

// ---- Losing the database ----

TEST_F(PgStoreTest, ACallWhileTheServerIsDownFailsAndTheNextOneReconnects) {
    auto store = open();
    ASSERT_TRUE(*store->create_user("alice", "$argon2id$fake", kNow));
    auto& cluster = test::PgTestCluster::get();
    ASSERT_TRUE(cluster.stop_server().ok());

    auto failed = store->user_exists("alice");
    ASSERT_TRUE(cluster.start_server().ok());
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, Errc::Internal);
    EXPECT_THAT(failed.error().message, HasSubstr("database unavailable"));
    auto again = store->user_exists("alice");
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_TRUE(*again);
}

TEST_F(PgStoreTest, AConnectionTheServerClosedWhileIdleIsReopenedBeforeTheNextCall) {
    auto store = open();
    ASSERT_TRUE(*store->create_user("alice", "$argon2id$fake", kNow));
    pg::Conn admin(uri_);
    auto killed = admin.query(
        "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    ASSERT_TRUE(killed.ok()) << killed.error().message;
    ASSERT_EQ(killed->integer(0, 0), 1);  // with a timeout: returns once the backend has gone

    // Before: this call failed with "database unavailable".
    auto found = store->user_exists("alice");
    ASSERT_TRUE(found.ok()) << found.error().message;
    EXPECT_TRUE(*found);
}

TEST_F(PgStoreTest, AnUnreachableDatabaseFailsToOpenWithoutShowingThePassword) {
    auto refused = PgStore::open("postgresql://groupshare:s3cret@127.0.0.1:1/none", "t");
    ASSERT_FALSE(refused.ok());
    EXPECT_THAT(refused.error().message, HasSubstr("cannot connect"));
    EXPECT_THAT(refused.error().message, ::testing::Not(HasSubstr("s3cret")));
}

TEST(PgConnectionOptions, AddsTimeoutsOnlyWhereTheUriSetsNone) {
    auto has = [](const auto& options, const std::string& key, const std::string& value) {
        for (const auto& [k, v] : options) {
            if (k == key) return v == value;
        }
        return false;
    };
    auto plain = pg::connection_options("postgresql://h1:5432,h2:5433/db");
    EXPECT_EQ(plain[0].first, "dbname");
    EXPECT_TRUE(has(plain, "connect_timeout", "3"));
    EXPECT_TRUE(has(plain, "tcp_user_timeout", "10000"));
    auto own = pg::connection_options(
        "postgresql://h1,h2/db?connect_timeout=9&target_session_attrs=read-write");
    EXPECT_FALSE(has(own, "connect_timeout", "3"));
    EXPECT_TRUE(is_postgres_uri("postgres://x/db"));
    EXPECT_TRUE(is_postgres_uri("postgresql://x/db"));
    EXPECT_FALSE(is_postgres_uri("groupshare-tracker-1.db"));
}

TEST(PgConnectionOptions, LogsShowNoPassword) {
    EXPECT_EQ(redact_uri("postgresql://gs:s3cret@h1:5432,h2:5433/db?sslmode=require"),
              "postgresql://gs:***@h1:5432,h2:5433/db?sslmode=require");
    EXPECT_EQ(redact_uri("postgres://h/db?user=gs&password=s3cret&connect_timeout=2"),
              "postgres://h/db?user=gs&password=***&connect_timeout=2");
    EXPECT_EQ(redact_uri("postgresql://gs@h/db"), "postgresql://gs@h/db");
    EXPECT_EQ(redact_uri("postgresql:///db?host=/run/pg"), "postgresql:///db?host=/run/pg");
}

}  // namespace
}  // namespace gs::tracker
