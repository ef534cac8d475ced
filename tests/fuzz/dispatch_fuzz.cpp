// libFuzzer target: the tracker's request core, tracker::Dispatcher itself, fed request frames
// as the Server feeds them, with no socket and with a password hasher that answers at once.
//
// Input: request bodies back to back (each one bencoded dictionary, as a client frames them).
// Each request comes from one of four connections chosen by its `seq` (seq mod 4; a body that
// does not decode goes to connection 0): 0 starts logged out; 1, 2 and 3 resume the sessions of
// alice (owner of group "g", which has the file "a.txt"), bob (a member of "g") and carol (no
// group) before the input starts. The world — an in-memory SqliteStore with those users,
// sessions, group and file — is made once and restored to that state before every input, and
// both of the Dispatcher's clocks are set (the steady one moves 1 s a request), so an input's
// outcome depends on nothing but its bytes.
//
// The stand-in hasher stores "fuzz:" + password and checks a password against that. A
// connection the Dispatcher closes (an unreadable request, a logout that ends its session) is
// disconnected as the Server would, and its slot connects again, logged out.
// Checks: every request gets exactly one reply, on its own connection; every reply decodes, is
// canonical bencode (encodes back to the same bytes) and has the request's seq and ok 0 or 1;
// no request makes the store fail (code "internal"); every error message is one line without
// control characters.
#include "shared/proto/bencode.hpp"
#include "shared/proto/frame.hpp"
#include "shared/result.hpp"
#include "shared/ticket.hpp"
#include "tracker/dispatcher.hpp"
#include "tracker/handlers/handlers.hpp"
#include "tracker/password_hasher.hpp"
#include "tracker/sqlite_store.hpp"
#include "tracker/store_runner.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// From the sanitizer runtime, when there is one (as libFuzzer declares it).
extern "C" __attribute__((weak)) void __sanitizer_set_report_fd(void* fd);

namespace {

using namespace gs;
using namespace gs::tracker;
using namespace std::chrono_literals;

// The Dispatcher logs a line per request on stderr: while an input runs, stderr goes to
// /dev/null (unless DISPATCH_FUZZ_TRACE is set), and sanitizer reports and fail() go to the
// real one, kept here.
int g_stderr = -1;
int g_devnull = -1;

[[noreturn]] void fail(const std::string& what) {
    if (g_stderr >= 0) ::dup2(g_stderr, STDERR_FILENO);
    std::fprintf(stderr, "dispatch_fuzz: %s\n", what.c_str());
    std::abort();
}

// Only to cut the input into bodies and pick a connection: the Dispatcher decodes each body
// itself, with its own limits (these are the same).
constexpr proto::DecodeLimits kSplitLimits{8, 4096};
constexpr std::size_t kMaxRequestsPerInput = 64;
// The clocks every Run starts from (each request moves them one second).
const TimePoint kNow = net::ManualClock{}.wall_now();
// Where every fuzzed connection comes from, as the Server reports it.
constexpr std::string_view kSource = "127.0.0.1:40000";
constexpr std::string_view kHost = "127.0.0.1";

// DISPATCH_FUZZ_TRACE=1 prints each request and its reply (for reading a reproducer).
bool trace() {
    static const bool on = std::getenv("DISPATCH_FUZZ_TRACE") != nullptr;
    return on;
}

std::string fake_hash(std::string_view password) {
    return "fuzz:" + std::string(password);
}

// Answers before it returns, with the "fuzz:" stand-in for argon2id.
class InlineHasher final : public PasswordHasher {
public:
    void hash(std::string password, std::function<void(std::string hash)> done) override {
        done(fake_hash(password));
    }
    void verify(std::optional<std::string> hash, std::string password,
                std::function<void(bool verified)> done) override {
        done(hash && *hash == fake_hash(password));
    }
};

// The connection SQLite opens last: SqliteStore keeps its handle private, so the fuzzer learns it
// through an auto-extension (called for every connection opened in this process).
sqlite3* g_last_db = nullptr;
int remember_db(sqlite3* db, const char** /*err*/, const sqlite3_api_routines* /*api*/) {
    g_last_db = db;
    return SQLITE_OK;
}

struct User {
    Session session;
    std::string token;  // what resume sends
};

struct World {
    std::unique_ptr<SqliteStore> store;
    sqlite3* db = nullptr;
    std::string pristine;  // the database as set up, restored before each input
    std::array<User, 3> users;
    TicketSigner tickets = TicketSigner::generate();
};

User make_user(SqliteStore& store, const std::string& id, const std::string& addr) {
    auto created = store.create_user(id, fake_hash("pw"), kNow);
    if (!created || !*created) fail("setup: create_user " + id);
    auto creds = store.password_hash_of(id);
    if (!creds || !*creds) fail("setup: password_hash_of " + id);
    User user{Session{(*creds)->user_pk, id, addr, ""}, ""};
    auto token = open_session(store, user.session, kNow);
    if (!token) fail("setup: open_session " + id);
    user.token = std::move(token).value();
    return user;
}

void expect_ok(const Reply& r, const char* what) {
    if (!r) fail(std::string("setup: ") + what + ": " + r.error().message);
}

World& world() {
    static World* w = [] {
        auto* made = new World;
        sqlite3_auto_extension(reinterpret_cast<void (*)()>(remember_db));
        auto opened = SqliteStore::open(":memory:");
        sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(remember_db));
        if (!opened) fail("setup: " + opened.error().message);
        made->store = std::move(opened).value();
        made->db = g_last_db;
        if (made->db == nullptr) fail("setup: did not see the database connection");
        SqliteStore& store = *made->store;
        made->users = {make_user(store, "alice", "127.0.0.1:7001"),
                       make_user(store, "bob", "127.0.0.1:7002"),
                       make_user(store, "carol", "127.0.0.1:7003")};
        auto call = [&](HandlerFn fn, const Session& who, proto::Dict args) {
            return fn(Context{&who, store, kNow}, proto::Value(std::move(args)));
        };
        const Session& alice = made->users[0].session;
        const Session& bob = made->users[1].session;
        expect_ok(call(handle_create_group, alice, {{"group", "g"}}), "create_group");
        expect_ok(call(handle_join_group, bob, {{"group", "g"}}), "join_group");
        expect_ok(call(handle_accept_request, alice, {{"group", "g"}, {"user", "bob"}}),
                  "accept_request");
        proto::Dict info{{"length", 5},
                         {"name", "a.txt"},
                         {"piece length", 16384},
                         {"pieces", std::string(20, 'x')},
                         {"private", 1}};
        expect_ok(call(handle_upload_file, alice,
                       {{"group", "g"}, {"info", proto::encode(proto::Value(std::move(info)))}}),
                  "upload_file");
        sqlite3_int64 bytes = 0;
        unsigned char* image = sqlite3_serialize(made->db, "main", &bytes, 0);
        if (image == nullptr) fail("setup: sqlite3_serialize failed");
        made->pristine.assign(reinterpret_cast<const char*>(image),
                              static_cast<std::size_t>(bytes));
        sqlite3_free(image);
        return made;
    }();
    return *w;
}

// Puts the database back as world() set it up. The store's prepared statements survive: they
// are all reset between calls, and SQLite re-prepares them against the restored schema.
void restore(World& w) {
    auto size = static_cast<sqlite3_int64>(w.pristine.size());
    auto* copy = static_cast<unsigned char*>(sqlite3_malloc64(static_cast<sqlite3_uint64>(size)));
    if (copy == nullptr) fail("restore: out of memory");
    std::memcpy(copy, w.pristine.data(), w.pristine.size());
    int rc = sqlite3_deserialize(w.db, "main", copy, size, size,
                                 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rc != SQLITE_OK) fail(std::string("restore: sqlite3_deserialize: ") + sqlite3_errstr(rc));
}

// What the Dispatcher does to connections, recorded as the Server would see it.
class Recorder final : public ConnOutput {
public:
    void send(ConnId id, std::string_view body) override {
        sent.emplace_back(id, std::string(body));
    }
    void close_after_flush(ConnId id, std::string_view /*reason*/) override { closing.insert(id); }
    void set_authenticated(ConnId id, bool authenticated) override {
        if (authenticated) {
            logged_in.insert(id);
        } else {
            logged_in.erase(id);
        }
    }
    std::size_t max_frame_bytes(ConnId id) const override {
        return logged_in.count(id) > 0 ? proto::kMaxFrameBytes : 64 * 1024;
    }

    std::vector<std::pair<ConnId, std::string>> sent;
    std::set<ConnId> closing;
    std::set<ConnId> logged_in;
};

void check_reply(std::int64_t seq, const std::string& body) {
    auto reply = proto::decode(body);
    if (!reply) fail("a reply does not decode: " + reply.error().message);
    if (proto::encode(*reply) != body) fail("a reply is not canonical bencode");
    if (reply->get_int("seq") != seq) fail("a reply does not carry its request's seq");
    auto ok = reply->get_int("ok");
    if (ok == 1) return;
    if (ok != 0) fail("a reply has no ok 0 or 1");
    auto code = reply->get_string("code");
    auto message = reply->get_string("error");
    if (!code || !message) fail("an error reply has no code or message");
    if (*code == "internal") fail("the store failed: " + std::string(*message));
    for (char c : *message) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) fail("control character in error: " + std::string(*message));
    }
}

// Keeps the Dispatcher's log lines out of the fuzzer's output while it lives.
class QuietStderr {
public:
    QuietStderr() {
        if (g_devnull >= 0) ::dup2(g_devnull, STDERR_FILENO);
    }
    ~QuietStderr() {
        if (g_stderr >= 0) ::dup2(g_stderr, STDERR_FILENO);
    }
    QuietStderr(const QuietStderr&) = delete;
    QuietStderr& operator=(const QuietStderr&) = delete;
};

// One input's run: a Dispatcher, its four connections, and the clocks it reads.
class Run {
public:
    explicit Run(World& w)
        : runner_(*w.store),
          dispatcher_(out_, runner_, hasher_, w.tickets, AccountLimits{}, kTicketLifetime, clock_) {
        for (std::size_t slot = 0; slot < slots_.size(); ++slot) connect(slot);
        for (std::size_t i = 0; i < w.users.size(); ++i) {
            const User& u = w.users[i];
            proto::Dict resume{{"op", "resume"},
                               {"seq", 0},
                               {"token", u.token},
                               {"listen", u.session.listen_addr}};
            dispatcher_.on_frame(slots_[i + 1], proto::encode(proto::Value(std::move(resume))));
        }
        for (const auto& [id, body] : out_.sent) {
            auto reply = proto::decode(body);
            if (!reply || reply->get_int("ok") != 1) fail("setup: resume failed: " + body);
        }
        if (out_.logged_in.size() != w.users.size()) fail("setup: resume did not log in");
        out_.sent.clear();
    }

    // The connections go, so the store's presence (kept in memory, not in the database that
    // restore() puts back) is empty again for the next input.
    ~Run() {
        for (ConnId id : slots_) dispatcher_.on_disconnect(id, "input ended");
    }
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    // One request body, as the Server would hand it over; false when the input should end
    // (the body was unreadable: its connection is closed, and what follows is noise).
    bool request(std::string_view body) {
        std::size_t slot = 0;
        auto msg = proto::decode(body, kSplitLimits);
        std::optional<std::int64_t> seq = msg ? msg->get_int("seq") : std::nullopt;
        if (seq) slot = static_cast<std::size_t>(((*seq % 4) + 4) % 4);
        const ConnId id = slots_[slot];
        clock_.advance(1s);
        dispatcher_.on_frame(id, body);
        if (out_.sent.size() != 1 || out_.sent[0].first != id) {
            fail("a request got " + std::to_string(out_.sent.size()) +
                 " replies, or one on another connection");
        }
        if (trace()) {
            std::fprintf(stderr, "conn %llu: %s -> %s\n", static_cast<unsigned long long>(id),
                         std::string(body).c_str(), out_.sent[0].second.c_str());
        }
        check_reply(seq.value_or(0), out_.sent[0].second);
        out_.sent.clear();
        const bool readable = msg && seq && msg->get_string("op");
        // The Server closes what the Dispatcher asked it to, after the reply has gone.
        for (ConnId closed : std::set<ConnId>(std::move(out_.closing))) disconnect(closed);
        out_.closing.clear();
        return readable;
    }

private:
    void connect(std::size_t slot) {
        slots_[slot] = next_id_++;
        dispatcher_.on_connect(slots_[slot], std::string(kSource), std::string(kHost));
    }

    void disconnect(ConnId id) {
        dispatcher_.on_disconnect(id, "closed by the fuzz target");
        out_.logged_in.erase(id);
        for (std::size_t slot = 0; slot < slots_.size(); ++slot) {
            if (slots_[slot] == id) connect(slot);
        }
    }

    Recorder out_;
    InlineHasher hasher_;
    net::ManualClock clock_;
    StoreRunner runner_;  // inline: every request is answered before on_frame returns
    Dispatcher dispatcher_;
    std::array<ConnId, 4> slots_{};
    ConnId next_id_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    if (trace()) return 0;
    g_stderr = ::dup(STDERR_FILENO);
    g_devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (g_stderr >= 0 && __sanitizer_set_report_fd != nullptr) {
        __sanitizer_set_report_fd(reinterpret_cast<void*>(static_cast<std::intptr_t>(g_stderr)));
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    World& w = world();
    restore(w);
    std::string_view in(reinterpret_cast<const char*>(data), size);
    QuietStderr quiet;
    Run run(w);
    for (std::size_t i = 0; i < kMaxRequestsPerInput && !in.empty(); ++i) {
        std::size_t consumed = 0;
        auto front = proto::decode_prefix(in, consumed, kSplitLimits);
        // What the client framed as one body: the decodable front, or else everything left.
        std::size_t take = front ? consumed : in.size();
        if (!run.request(in.substr(0, take))) break;
        in.remove_prefix(take);
    }
    return 0;
}
