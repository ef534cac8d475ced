// libFuzzer target: the tracker's request handling, as tracker/dispatcher.cpp does it for one
// frame body, without sockets or the password-hash worker.
//
// Input: request bodies back to back (each one bencoded dictionary, as a client frames them).
// Each request comes from one of four connections chosen by its `seq` (seq mod 4): 0 starts
// logged out; 1, 2 and 3 are logged in as alice (owner of group "g", which has the file "a.txt"),
// bob (a member of "g") and carol (no group). The world — an in-memory SqliteStore with those
// users, group and file — is made once and restored to that state before every input, so an
// input's outcome depends on nothing but its bytes.
//
// As in the Dispatcher: an unreadable request (or one without op and seq) closes its connection
// and ends the input; create_user, login and resume call the same rules (check_new_user,
// begin_login and finish_login, resume_session) around a stand-in for argon2 (the "hash" stored
// is "fuzz:" + password); other ops go through handler_table() with its login check, and the ops
// that issue tickets first check the session is still in the store (check_session_live). A
// logout ends the other connections of its session (with everywhere: 1, of its user), as the
// Dispatcher closes them. The three users start with real sessions in the store.
// Checks: every reply encodes and decodes back to itself; no request makes the store fail
// (Errc::Internal); every error message is one line without control characters.
#include "shared/proto/bencode.hpp"
#include "shared/result.hpp"
#include "tracker/handlers/handlers.hpp"
#include "tracker/login_throttle.hpp"
#include "tracker/sqlite_store.hpp"

#include <sqlite3.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace gs;
using namespace gs::tracker;
using namespace std::chrono_literals;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "dispatch_fuzz: %s\n", what.c_str());
    std::abort();
}

// As tracker/dispatcher.cpp decodes requests.
constexpr proto::DecodeLimits kRequestLimits{8, 4096};
constexpr std::size_t kMaxRequestsPerInput = 64;
const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 10h;
// Where every fuzzed connection comes from, as the Dispatcher gives it (ConnState::peer).
constexpr std::string_view kSource = "127.0.0.1:40000";

// DISPATCH_FUZZ_TRACE=1 prints each request's outcome (for reading a reproducer).
bool trace() {
    static const bool on = std::getenv("DISPATCH_FUZZ_TRACE") != nullptr;
    return on;
}

std::string fake_hash(std::string_view password) { return "fuzz:" + std::string(password); }

// The connection SQLite opens last: SqliteStore keeps its handle private, so the fuzzer learns it
// through an auto-extension (called for every connection opened in this process).
sqlite3* g_last_db = nullptr;
int remember_db(sqlite3* db, const char** /*err*/, const sqlite3_api_routines* /*api*/) {
    g_last_db = db;
    return SQLITE_OK;
}

struct Conn {
    std::optional<Session> session;
};

struct World {
    std::unique_ptr<SqliteStore> store;
    sqlite3* db = nullptr;
    std::string pristine;  // the database as set up, restored before each input
    std::array<Session, 3> users;
};

Session make_user(SqliteStore& store, const std::string& id, const std::string& addr) {
    auto created = store.create_user(id, fake_hash("pw"), kNow);
    if (!created || !*created) fail("setup: create_user " + id);
    auto creds = store.password_hash_of(id);
    if (!creds || !*creds) fail("setup: password_hash_of " + id);
    Session session{(*creds)->user_pk, id, addr, ""};
    if (!open_session(store, session, kNow)) fail("setup: open_session " + id);
    return session;
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
        Presence none;
        auto call = [&](HandlerFn fn, const Session& who, proto::Dict args) {
            return fn(Context{&who, store, none, kNow}, proto::Value(std::move(args)));
        };
        const Session& alice = made->users[0];
        const Session& bob = made->users[1];
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
        made->pristine.assign(reinterpret_cast<const char*>(image), static_cast<std::size_t>(bytes));
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

class Dispatch {
public:
    explicit Dispatch(World& w) : w_(w) {
        for (std::size_t i = 0; i < w.users.size(); ++i) bind(conns_[i + 1], w.users[i]);
    }

    // One request body; false when its connection would be closed (unreadable request).
    bool request(std::string_view body) {
        auto msg = proto::decode(body, kRequestLimits);
        if (!msg) return false;
        auto seq = msg->get_int("seq");
        auto op = msg->get_string("op");
        if (!seq || !op) return false;
        Conn& conn = conns_[static_cast<std::size_t>(((*seq % 4) + 4) % 4)];
        steady_now_ += 1s;
        Reply r = route(conn, std::string(*op), *msg);
        if (trace()) {
            std::fprintf(stderr, "seq %lld %s as %s -> %s\n", static_cast<long long>(*seq),
                         std::string(*op).c_str(),
                         conn.session ? conn.session->user_id.c_str() : "-",
                         r ? proto::encode(proto::Value(*r)).c_str() : r.error().message.c_str());
        }
        check_reply(*seq, r);
        return true;
    }

private:
    Reply route(Conn& conn, const std::string& op, const proto::Value& msg) {
        if (op == "create_user") return create_user(msg);
        if (op == "login") return login(conn, msg);
        if (op == "resume") return resume(conn, msg);
        const auto& table = handler_table();
        auto h = table.find(op);
        if (h == table.end()) return make_error(Errc::BadInput, "unknown operation");
        if (h->second.needs_login && !conn.session) {
            return make_error(Errc::NotLoggedIn, std::string(kNotLoggedInMessage));
        }
        Context ctx{conn.session ? &*conn.session : nullptr, *w_.store, presence_, kNow};
        if (conn.session && issues_tickets(op)) {
            if (Status live = check_session_live(ctx); !live) {
                if (live.error().code == Errc::NotLoggedIn) unbind(conn);
                return live.error();
            }
        }
        Reply result = h->second.fn(ctx, msg);
        if (op == "logout" && result) {
            Session ended = *conn.session;
            const bool everywhere = logout_everywhere(msg);
            for (Conn& other : conns_) {
                if (other.session && (everywhere ? other.session->user_pk == ended.user_pk
                                                 : other.session->token_hash == ended.token_hash)) {
                    unbind(other);
                }
            }
        }
        return result;
    }

    Reply create_user(const proto::Value& msg) {
        auto user = msg.get_string("user");
        auto password = msg.get_string("password");
        if (!user || !password) return make_error(Errc::BadInput, "create_user needs more");
        Status ok = check_new_user(*w_.store, *user, *password);
        if (!ok) return ok.error();
        auto created = w_.store->create_user(*user, fake_hash(*password), kNow);
        if (!created) return created.error();
        if (!*created) return already_exists_user_error(*user);
        return proto::Dict{};
    }

    // The Dispatcher's login with a stand-in for the password check.
    Reply login(Conn& conn, const proto::Value& msg) {
        auto pending = begin_login(*w_.store, throttle_, msg,
                                   conn.session ? &*conn.session : nullptr, steady_now_);
        if (!pending) return pending.error();
        const bool verified =
            pending->found && pending->found->password_hash == fake_hash(pending->password);
        auto done = finish_login(*w_.store, throttle_, *pending, verified, kSource, steady_now_,
                                 kNow);
        if (!done) return done.error();
        bind(conn, done->session);
        return proto::Dict{{"token", done->token}, {"user", done->session.user_id}};
    }

    Reply resume(Conn& conn, const proto::Value& msg) {
        auto token = msg.get_string("token");
        auto listen = msg.get_string("listen");
        if (!token || !listen) return make_error(Errc::BadInput, "resume needs more");
        auto session = resume_session(*w_.store, *token, *listen, kSource, kNow);
        if (!session) return session.error();
        if (conn.session) unbind(conn);
        bind(conn, *session);
        return proto::Dict{{"user", session->user_id}};
    }

    void bind(Conn& conn, const Session& session) {
        presence_[session.user_id].insert(session.listen_addr);
        conn.session = session;
    }

    void unbind(Conn& conn) {
        if (!conn.session) return;
        auto it = presence_.find(conn.session->user_id);
        if (it != presence_.end()) {
            auto addr = it->second.find(conn.session->listen_addr);
            if (addr != it->second.end()) it->second.erase(addr);
            if (it->second.empty()) presence_.erase(it);
        }
        conn.session.reset();
    }

    static void check_reply(std::int64_t seq, const Reply& r) {
        proto::Dict d;
        if (r) {
            d = *r;
            d["ok"] = 1;
        } else {
            const Error& e = r.error();
            if (e.code == Errc::Internal) fail("the store failed: " + e.message);
            for (char c : e.message) {
                auto u = static_cast<unsigned char>(c);
                if (u < 0x20 || u == 0x7f) fail("control character in error: " + e.message);
            }
            d = proto::Dict{{"ok", 0}, {"code", errc_name(e.code)}, {"error", e.message}};
        }
        d["seq"] = seq;
        proto::Value reply(std::move(d));
        auto back = proto::decode(proto::encode(reply));
        if (!back || !(*back == reply)) fail("a reply does not survive encode/decode");
    }

    World& w_;
    std::array<Conn, 4> conns_;
    Presence presence_;
    LoginThrottle throttle_;
    LoginThrottle::Clock::time_point steady_now_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    World& w = world();
    restore(w);
    std::string_view in(reinterpret_cast<const char*>(data), size);
    Dispatch dispatch(w);
    for (std::size_t i = 0; i < kMaxRequestsPerInput && !in.empty(); ++i) {
        std::size_t consumed = 0;
        auto front = proto::decode_prefix(in, consumed, kRequestLimits);
        // What the client framed as one body: the decodable front, or else everything left.
        std::size_t take = front ? consumed : in.size();
        if (!dispatch.request(in.substr(0, take))) break;
        in.remove_prefix(take);
    }
    return 0;
}
