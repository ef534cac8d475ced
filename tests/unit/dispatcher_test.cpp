// tracker::Dispatcher with its Store on a StoreRunner pool, as a networked database runs it:
// three worker threads, each with its own SqliteStore on ONE database file (WAL and the busy
// timeout let them share it) and one shared presence table. One connection's requests run one
// at a time in order; other connections are served while one waits on the database; an answer
// for a connection that has gone is dropped; past the StoreLimits a request is answered
// `tracker busy` (and the connection's input is paused before that). The loop runs on a
// ManualClock; the tests wait on events (answers posted to the loop, a job entering the gate),
// never on time.
#include "tracker/dispatcher.hpp"

#include "shared/proto/bencode.hpp"
#include "shared/proto/frame.hpp"
#include "tracker/password_hasher.hpp"
#include "tracker/sqlite_store.hpp"
#include "tracker/store_runner.hpp"

#include "tests/unit/run_until.hpp"
#include "tests/unit/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gs::tracker {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Holds the jobs that reach it until opened: a request stuck in the database.
class Gate {
public:
    void pass() {
        std::unique_lock lock(mutex_);
        ++entered_;
        opened_.wait(lock, [this] { return open_; });
    }
    void close() {
        std::lock_guard lock(mutex_);
        open_ = false;
    }
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        opened_.notify_all();
    }
    int entered() const {
        std::lock_guard lock(mutex_);
        return entered_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable opened_;
    bool open_ = true;
    int entered_ = 0;
};

// A SqliteStore whose list_groups waits at the gate; everything else goes straight through.
class GatedStore final : public Store {
public:
    GatedStore(std::unique_ptr<SqliteStore> inner, Gate& gate)
        : inner_(std::move(inner)), gate_(gate) {}

    Result<bool> create_user(std::string_view user_id, std::string_view password_hash,
                             TimePoint now) override {
        return inner_->create_user(user_id, password_hash, now);
    }
    Result<bool> user_exists(std::string_view user_id) override {
        return inner_->user_exists(user_id);
    }
    Result<std::optional<Credentials>> password_hash_of(std::string_view user_id) override {
        return inner_->password_hash_of(user_id);
    }
    Status create_session(std::string_view token_hash, std::int64_t user_pk, TimePoint now,
                          TimePoint expires_at) override {
        return inner_->create_session(token_hash, user_pk, now, expires_at);
    }
    Result<std::optional<User>> user_of_session(std::string_view token_hash,
                                                TimePoint now) override {
        return inner_->user_of_session(token_hash, now);
    }
    Status renew_session(std::string_view token_hash, TimePoint expires_at) override {
        return inner_->renew_session(token_hash, expires_at);
    }
    Status delete_session(std::string_view token_hash) override {
        return inner_->delete_session(token_hash);
    }
    Status delete_expired_sessions(TimePoint now) override {
        return inner_->delete_expired_sessions(now);
    }
    Result<bool> create_group(std::string_view group_id, std::int64_t owner_pk,
                              TimePoint now) override {
        return inner_->create_group(group_id, owner_pk, now);
    }
    Result<std::optional<Group>> find_group(std::string_view group_id) override {
        return inner_->find_group(group_id);
    }
    Result<bool> is_member(std::int64_t group_pk, std::int64_t user_pk) override {
        return inner_->is_member(group_pk, user_pk);
    }
    Result<std::vector<Member>> list_members(std::int64_t group_pk) override {
        return inner_->list_members(group_pk);
    }
    Result<std::vector<GroupSummary>> list_groups(std::int64_t user_pk, std::string_view after,
                                                  std::size_t limit) override {
        gate_.pass();
        return inner_->list_groups(user_pk, after, limit);
    }
    Result<std::int64_t> count_groups_owned(std::int64_t user_pk) override {
        return inner_->count_groups_owned(user_pk);
    }
    Result<std::int64_t> count_pending_requests(std::int64_t user_pk) override {
        return inner_->count_pending_requests(user_pk);
    }
    Result<bool> has_join_request(std::int64_t group_pk, std::int64_t user_pk) override {
        return inner_->has_join_request(group_pk, user_pk);
    }
    Result<JoinOutcome> add_join_request(std::int64_t group_pk, std::int64_t user_pk,
                                         TimePoint now) override {
        return inner_->add_join_request(group_pk, user_pk, now);
    }
    Result<std::vector<JoinRequest>> list_requests(std::int64_t group_pk, std::int64_t after_seq,
                                                   std::size_t limit) override {
        return inner_->list_requests(group_pk, after_seq, limit);
    }
    Result<bool> accept_request(std::int64_t group_pk, std::string_view user_id,
                                TimePoint now) override {
        return inner_->accept_request(group_pk, user_id, now);
    }
    Result<bool> reject_request(std::int64_t group_pk, std::string_view user_id) override {
        return inner_->reject_request(group_pk, user_id);
    }
    Result<LeaveOutcome> leave_group(std::int64_t group_pk, std::int64_t user_pk) override {
        return inner_->leave_group(group_pk, user_pk);
    }
    Result<bool> remove_member(std::int64_t group_pk, std::string_view user_id) override {
        return inner_->remove_member(group_pk, user_id);
    }
    Result<bool> add_file(std::int64_t group_pk, const NewFile& file, std::int64_t user_pk,
                          std::string_view listen_addr, TimePoint now) override {
        return inner_->add_file(group_pk, file, user_pk, listen_addr, now);
    }
    Result<bool> add_seeder(std::int64_t file_pk, std::int64_t user_pk,
                            std::string_view listen_addr, TimePoint now,
                            int max_addrs_per_user) override {
        return inner_->add_seeder(file_pk, user_pk, listen_addr, now, max_addrs_per_user);
    }
    Result<std::optional<FileRecord>> file_by_name(std::int64_t group_pk,
                                                   std::string_view name) override {
        return inner_->file_by_name(group_pk, name);
    }
    Result<std::optional<std::int64_t>> file_pk_by_hash(std::int64_t group_pk,
                                                        std::string_view info_hash) override {
        return inner_->file_pk_by_hash(group_pk, info_hash);
    }
    Result<std::optional<FileRecord>> file_by_hash(std::int64_t group_pk,
                                                   std::string_view info_hash) override {
        return inner_->file_by_hash(group_pk, info_hash);
    }
    Result<std::vector<FileListing>> list_files(std::int64_t group_pk, std::string_view after,
                                                std::size_t limit) override {
        return inner_->list_files(group_pk, after, limit);
    }
    Result<std::vector<Seeder>> seeders_of(std::int64_t file_pk) override {
        return inner_->seeders_of(file_pk);
    }
    Result<int> remove_seeder(std::int64_t file_pk, std::int64_t user_pk) override {
        return inner_->remove_seeder(file_pk, user_pk);
    }
    Result<bool> remove_file(std::int64_t file_pk) override { return inner_->remove_file(file_pk); }
    Result<HashElsewhere> info_hash_elsewhere(std::int64_t group_pk, std::string_view info_hash,
                                              std::int64_t user_pk) override {
        return inner_->info_hash_elsewhere(group_pk, info_hash, user_pk);
    }
    Result<UploadCounts> uploads_by(std::int64_t user_pk, std::int64_t group_pk) override {
        return inner_->uploads_by(user_pk, group_pk);
    }
    Result<int> remove_user_shares_in_group(std::int64_t group_pk, std::int64_t user_pk) override {
        return inner_->remove_user_shares_in_group(group_pk, user_pk);
    }
    Result<int> delete_sessions_of_user(std::int64_t user_pk) override {
        return inner_->delete_sessions_of_user(user_pk);
    }
    Status set_online(std::uint64_t conn, std::int64_t user_pk, std::string_view listen_addr,
                      std::string_view peer_key) override {
        return inner_->set_online(conn, user_pk, listen_addr, peer_key);
    }
    Status set_offline(std::uint64_t conn) override { return inner_->set_offline(conn); }
    Status heartbeat(TimePoint now) override { return inner_->heartbeat(now); }

private:
    std::unique_ptr<SqliteStore> inner_;
    Gate& gate_;
};

// Answers at once: "fake:" + password.
class InstantHasher final : public PasswordHasher {
public:
    void hash(std::string password, std::function<void(std::string hash)> done) override {
        done("fake:" + password);
    }
    void verify(std::optional<std::string> hash, std::string password,
                std::function<void(bool verified)> done) override {
        done(hash && *hash == "fake:" + password);
    }
};

// What the Dispatcher sends, by connection, in order.
class Recorder final : public ConnOutput {
public:
    void send(ConnId id, std::string_view body) override {
        auto reply = proto::decode(body);
        ASSERT_TRUE(reply) << reply.error().message;
        replies[id].push_back(std::move(reply).value());
    }
    void close_after_flush(ConnId id, std::string_view /*reason*/) override { closing.insert(id); }
    void set_authenticated(ConnId /*id*/, bool /*authenticated*/) override {}
    std::size_t max_frame_bytes(ConnId /*id*/) const override { return proto::kMaxFrameBytes; }
    // Records the back-pressure but keeps taking frames: the Dispatcher's own limits are tested.
    void pause_input(ConnId id, bool pause) override {
        if (pause) {
            paused.insert(id);
        } else {
            paused.erase(id);
        }
    }

    std::map<ConnId, std::vector<proto::Value>> replies;
    std::set<ConnId> closing;
    std::set<ConnId> paused;
};

constexpr unsigned kThreads = 3;

class PooledDispatcherTest : public test_support::LoopTest {
protected:
    void SetUp() override {
        const std::string path = dir_.file("tracker.db");
        auto setup = SqliteStore::open(path);
        ASSERT_TRUE(setup) << setup.error().message;
        setup_ = std::move(setup).value();
        presence_ = setup_->presence();
        runner_ = std::make_unique<StoreRunner>(loop_, kThreads, [&]() -> std::unique_ptr<Store> {
            auto store = std::make_unique<SqliteStore>(path);
            store->share_presence(presence_);
            return std::make_unique<GatedStore>(std::move(store), gate_);
        });
        for (const char* id : {"alice", "bob", "carol", "dave"}) add_user(id);
    }

    void TearDown() override {
        gate_.open();  // no worker may stay stuck when the runner stops
        dispatcher_.reset();
        runner_.reset();
    }

    void start(StoreLimits limits = {}) {
        dispatcher_ =
            std::make_unique<Dispatcher>(out_, *runner_, hasher_, TicketSigner::generate(),
                                         AccountLimits{}, kTicketLifetime, clock_, limits);
    }

    // A user with a session made in the database; its token is what resume sends.
    void add_user(const std::string& id) {
        ASSERT_TRUE(*setup_->create_user(id, "fake:pw", clock_.wall_now()));
        auto creds = setup_->password_hash_of(id);
        Session session{(*creds)->user_pk, id, "127.0.0.1:7000", ""};
        auto token = open_session(*setup_, session, clock_.wall_now());
        ASSERT_TRUE(token) << token.error().message;
        tokens_[id] = *token;
        pks_[id] = session.user_pk;
    }

    // Connection `id` from 127.0.0.1, port 40000 + id.
    void connect(ConnId id) {
        dispatcher_->on_connect(id, "127.0.0.1:" + std::to_string(40000 + id), "127.0.0.1");
    }

    void send(ConnId id, std::int64_t seq, std::string op, proto::Dict args = {}) {
        args["op"] = std::move(op);
        args["seq"] = seq;
        dispatcher_->on_frame(id, proto::encode(proto::Value(std::move(args))));
    }

    void resume(ConnId id, std::int64_t seq, const std::string& user) {
        send(id, seq, "resume", {{"token", tokens_.at(user)}, {"listen", "127.0.0.1:7000"}});
    }

    // alice on connection 1 and bob on 2, logged in (resumed) and answered.
    void alice_and_bob() {
        connect(1);
        connect(2);
        resume(1, 1, "alice");
        resume(2, 1, "bob");
        ASSERT_TRUE(answered(1, 1) && answered(2, 1));
    }

    std::size_t replies(ConnId id) {
        auto it = out_.replies.find(id);
        return it == out_.replies.end() ? 0 : it->second.size();
    }
    const proto::Value& reply(ConnId id, std::size_t i) { return out_.replies.at(id).at(i); }

    // The seqs of `id`'s replies, in the order they came.
    std::vector<std::int64_t> seqs(ConnId id) {
        std::vector<std::int64_t> out;
        for (const auto& r : out_.replies[id]) out.push_back(r.get_int("seq").value_or(-1));
        return out;
    }

    bool answered(ConnId id, std::size_t n) {
        return run_until([&] { return replies(id) >= n; });
    }

    test::TempDir dir_;
    std::unique_ptr<SqliteStore> setup_;  // the test's own connection to the database
    std::shared_ptr<PresenceTable> presence_;
    Gate gate_;
    Recorder out_;
    InstantHasher hasher_;
    std::unique_ptr<StoreRunner> runner_;
    std::unique_ptr<Dispatcher> dispatcher_;
    std::map<std::string, std::string> tokens_;
    std::map<std::string, std::int64_t> pks_;
};

TEST_F(PooledDispatcherTest, OneConnectionsPipelinedRequestsRunOneAtATimeInOrder) {
    start();
    connect(1);
    // Each needs the one before it answered: the session, the group, the logout.
    resume(1, 1, "alice");
    send(1, 2, "create_group", {{"group", "g"}});
    send(1, 3, "list_groups");
    send(1, 4, "logout");
    send(1, 5, "list_groups");
    EXPECT_EQ(replies(1), 0u) << "a pool answers through the loop, not before on_frame returns";
    ASSERT_TRUE(answered(1, 5));
    EXPECT_EQ(seqs(1), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
    for (int i = 0; i < 4; ++i) EXPECT_EQ(reply(1, i).get_int("ok"), 1) << i;
    const auto& groups = reply(1, 2).as_dict().at("groups").as_list();
    ASSERT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0].get_string("group"), "g");
    EXPECT_EQ(reply(1, 4).get_string("code"), "not_logged_in");
}

TEST_F(PooledDispatcherTest, ManyConnectionsAreServedAndEachKeepsItsOrder) {
    start();
    const std::vector<std::string> users{"alice", "bob", "carol", "dave"};
    constexpr int kGroups = 6;
    for (ConnId id = 1; id <= users.size(); ++id) {
        connect(id);
        resume(id, 1, users[id - 1]);
        for (int g = 0; g < kGroups; ++g) {
            send(id, 2 + g, "create_group", {{"group", users[id - 1] + std::to_string(g)}});
        }
        send(id, 2 + kGroups, "list_groups");
    }
    for (ConnId id = 1; id <= users.size(); ++id) {
        ASSERT_TRUE(answered(id, kGroups + 2)) << id;
        std::vector<std::int64_t> in_order;
        for (int s = 1; s <= kGroups + 2; ++s) in_order.push_back(s);
        EXPECT_EQ(seqs(id), in_order) << id;
        for (std::size_t i = 0; i < kGroups + 2; ++i) EXPECT_EQ(reply(id, i).get_int("ok"), 1);
    }
    // The last list_groups of each ran after its own six creates.
    for (ConnId id = 1; id <= users.size(); ++id) {
        std::size_t mine = 0;
        for (const auto& g : reply(id, kGroups + 1).as_dict().at("groups").as_list()) {
            if (g.get_int("member") == 1) ++mine;
        }
        EXPECT_EQ(mine, static_cast<std::size_t>(kGroups)) << id;
    }
}

TEST_F(PooledDispatcherTest, AConnectionWaitingOnTheDatabaseHoldsUpOnlyItself) {
    start();
    alice_and_bob();
    gate_.close();
    send(1, 2, "list_groups");                         // stuck in the database
    send(1, 3, "create_group", {{"group", "later"}});  // waits for it
    ASSERT_TRUE(run_until([&] { return gate_.entered() == 1; }));
    send(2, 2, "create_group", {{"group", "b"}});
    ASSERT_TRUE(answered(2, 2)) << "another connection was held up";
    EXPECT_EQ(reply(2, 1).get_int("ok"), 1);
    run_until_idle();
    EXPECT_EQ(replies(1), 1u) << "the request after the stuck one ran before it was answered";
    gate_.open();
    ASSERT_TRUE(answered(1, 3));
    EXPECT_EQ(seqs(1), (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(reply(1, 2).get_int("ok"), 1);
}

TEST_F(PooledDispatcherTest, TheAnswerForAConnectionThatClosedIsDroppedAndItGoesOffline) {
    start();
    connect(1);
    resume(1, 1, "alice");
    ASSERT_TRUE(answered(1, 1));
    EXPECT_TRUE(presence_->is_online(pks_.at("alice"), "127.0.0.1:7000"));
    gate_.close();
    send(1, 2, "list_groups");
    send(1, 3, "list_groups");
    ASSERT_TRUE(run_until([&] { return gate_.entered() == 1; }));
    dispatcher_->on_disconnect(1, "closed by the test");
    gate_.open();
    ASSERT_TRUE(run_until([&] { return runner_->pending() == 0; }));
    run_until_idle();
    EXPECT_EQ(replies(1), 1u) << "an answer went to a connection that had gone";
    // Offline once its running job had answered (after anything that job did).
    EXPECT_FALSE(presence_->is_online(pks_.at("alice"), "127.0.0.1:7000"));
}

TEST_F(PooledDispatcherTest, AnAnswerAfterTheDispatcherHasGoneIsDropped) {
    start();
    connect(1);
    resume(1, 1, "alice");
    ASSERT_TRUE(answered(1, 1));
    gate_.close();
    send(1, 2, "list_groups");
    ASSERT_TRUE(run_until([&] { return gate_.entered() == 1; }));
    dispatcher_.reset();
    gate_.open();
    ASSERT_TRUE(run_until([&] { return runner_->pending() == 0; }));
    EXPECT_EQ(replies(1), 1u);
}

TEST_F(PooledDispatcherTest, PastTheWaitingLimitsRequestsAreAnsweredTrackerBusy) {
    StoreLimits limits;
    limits.pause_input_at = 2;
    limits.max_waiting_per_connection = 2;
    limits.max_requests = 4;
    start(limits);
    for (ConnId id = 1; id <= 3; ++id) connect(id);
    resume(1, 1, "alice");
    resume(2, 1, "bob");
    resume(3, 1, "carol");
    ASSERT_TRUE(answered(1, 1) && answered(2, 1) && answered(3, 1));
    gate_.close();
    send(1, 2, "list_groups");  // running (stuck)
    send(1, 3, "list_groups");  // waiting: 1
    EXPECT_EQ(out_.paused.count(1), 0u);
    send(1, 4, "list_groups");  // waiting: 2, the limit; the Server is asked to stop reading
    EXPECT_EQ(out_.paused.count(1), 1u);
    send(1, 5, "list_groups");  // one more (a sink that does not pause): refused at once
    ASSERT_EQ(replies(1), 2u);
    EXPECT_EQ(reply(1, 1).get_int("seq"), 5);
    EXPECT_EQ(reply(1, 1).get_string("code"), "throttled");
    EXPECT_EQ(reply(1, 1).get_string("error"),
              "tracker busy: 2 requests on this connection are waiting for the database; wait "
              "for their answers before sending more");
    // Three in all; one more makes four, the whole Dispatcher's limit; the next is refused.
    send(2, 2, "list_groups");
    ASSERT_TRUE(run_until([&] { return gate_.entered() >= 2; }));
    send(3, 2, "list_groups");
    ASSERT_EQ(replies(3), 2u);
    EXPECT_THAT(std::string(reply(3, 1).get_string("error").value_or("")),
                HasSubstr("tracker busy: too many requests are waiting for the database"));
    gate_.open();
    ASSERT_TRUE(answered(1, 5) && answered(2, 2));
    EXPECT_EQ(seqs(1), (std::vector<std::int64_t>{1, 5, 2, 3, 4}));
    EXPECT_EQ(out_.paused.count(1), 0u) << "its input was not resumed";
    // With room again, requests are taken.
    send(3, 3, "list_groups");
    ASSERT_TRUE(answered(3, 3));
    EXPECT_EQ(reply(3, 2).get_int("ok"), 1);
}

TEST_F(PooledDispatcherTest, PresenceIsSharedByTheWorkersStores) {
    start();
    alice_and_bob();
    send(1, 2, "create_group", {{"group", "g"}});
    ASSERT_TRUE(answered(1, 2));  // two connections: no order between them
    send(2, 2, "join_group", {{"group", "g"}});
    ASSERT_TRUE(answered(2, 2));
    send(1, 3, "accept_request", {{"group", "g"}, {"user", "bob"}});
    proto::Dict info{{"length", 5},
                     {"name", "a.txt"},
                     {"piece length", 16384},
                     {"pieces", std::string(20, 'x')},
                     {"private", 1}};
    send(1, 4, "upload_file", {{"group", "g"}, {"info", proto::encode(proto::Value(info))}});
    ASSERT_TRUE(answered(1, 4));
    ASSERT_EQ(reply(1, 3).get_int("ok"), 1);
    // Whichever worker answers, alice's connection is online...
    for (std::int64_t seq = 3; seq < 3 + kThreads; ++seq)
        send(2, seq, "list_files", {{"group", "g"}});
    ASSERT_TRUE(answered(2, 2 + kThreads));
    for (std::size_t i = 2; i < 2 + kThreads; ++i) {
        EXPECT_EQ(reply(2, i).as_dict().at("files").as_list().at(0).get_int("online"), 1) << i;
    }
    // ... and once it has gone, offline.
    dispatcher_->on_disconnect(1, "closed by the test");
    ASSERT_TRUE(run_until([&] { return runner_->pending() == 0; }));
    send(2, 10, "list_files", {{"group", "g"}});
    ASSERT_TRUE(answered(2, 3 + kThreads));
    EXPECT_EQ(reply(2, 2 + kThreads).as_dict().at("files").as_list().at(0).get_int("online"), 0);
}

TEST_F(PooledDispatcherTest, TheHeartbeatGoesToTheStoreEveryFiveSeconds) {
    StoreHeartbeat heartbeat(loop_, *runner_);
    advance(StoreHeartbeat::kPeriod - 1ns);
    EXPECT_EQ(heartbeat.beats(), 0u);
    advance(1ns);
    ASSERT_TRUE(run_until([&] { return heartbeat.beats() == 1; }));
    advance(StoreHeartbeat::kPeriod);
    ASSERT_TRUE(run_until([&] { return heartbeat.beats() == 2; }));
}

// SQLite's default: the same Dispatcher answers before on_frame returns, on this thread.
TEST(InlineDispatcherTest, AnswersBeforeOnFrameReturns) {
    test::TempDir dir;
    auto store = SqliteStore::open(dir.file("tracker.db"));
    ASSERT_TRUE(store) << store.error().message;
    StoreRunner runner(**store);
    EXPECT_TRUE(runner.is_inline());
    Recorder out;
    InstantHasher hasher;
    net::ManualClock clock;
    Dispatcher dispatcher(out, runner, hasher, TicketSigner::generate(), AccountLimits{},
                          kTicketLifetime, clock);
    dispatcher.on_connect(1, "127.0.0.1:40001", "127.0.0.1");
    dispatcher.on_frame(
        1, proto::encode(proto::Value(proto::Dict{
               {"op", "create_user"}, {"seq", 1}, {"user", "alice"}, {"password", "pw"}})));
    dispatcher.on_frame(1, proto::encode(proto::Value(proto::Dict{{"op", "login"},
                                                                  {"seq", 2},
                                                                  {"user", "alice"},
                                                                  {"password", "pw"},
                                                                  {"listen", "127.0.0.1:7000"}})));
    ASSERT_EQ(out.replies[1].size(), 2u);
    EXPECT_EQ(out.replies[1][0].get_int("ok"), 1);
    EXPECT_EQ(out.replies[1][1].get_int("ok"), 1);
    EXPECT_EQ(runner.pending(), 0u);
}

}  // namespace
}  // namespace gs::tracker
