#include "tracker/dispatcher.hpp"

#include "shared/ids.hpp"
#include "shared/log.hpp"
#include "shared/proto/frame.hpp"
#include "tracker/password_hasher.hpp"
#include "tracker/store.hpp"

#include <fmt/format.h>

#include <chrono>
#include <vector>

namespace gs::tracker {

namespace {

// Request bodies are small dictionaries; the info dict of a huge file is one string in them.
constexpr proto::DecodeLimits kRequestLimits{8, 4096};

Error hash_queue_full_error() {
    return make_error(Errc::Throttled,
                      "the tracker is busy checking passwords; try again in a few seconds");
}

// Takes one from a count by address, dropping the address at zero.
void count_down(std::unordered_map<std::string, std::size_t>& counts, const std::string& host) {
    if (auto n = counts.find(host); n != counts.end() && --n->second == 0) counts.erase(n);
}

}  // namespace

Dispatcher::Dispatcher(ConnOutput& out, Store& store, PasswordHasher& hasher, TicketSigner tickets,
                       AccountLimits limits, std::chrono::seconds ticket_lifetime,
                       const net::TimeSource& clock)
    : out_(out),
      store_(store),
      hasher_(hasher),
      tickets_(std::move(tickets), ticket_lifetime),
      clock_(clock),
      limits_(limits),
      attempts_(limits.attempts_burst, limits.attempts_per_second) {}

void Dispatcher::on_connect(ConnId id, const std::string& peer, const std::string& host) {
    conns_[id] = ConnState{peer, host, std::nullopt, 0};
}

void Dispatcher::on_disconnect(ConnId id, std::string_view reason) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    log::info("conn {} {} closed: {}", id, it->second.peer, reason);
    unbind_session(id);
    conns_.erase(id);  // its hash jobs that have not started are skipped (start_hash_jobs)
}

void Dispatcher::on_oversized_frame(ConnId id, std::uint32_t declared_bytes) {
    auto it = conns_.find(id);
    std::string peer = it == conns_.end() ? "?" : it->second.peer;
    const bool logged_in = it != conns_.end() && it->second.session;
    const std::size_t cap = out_.max_frame_bytes(id);
    log::warn("conn {} {}: frame of {} bytes is over the {} byte limit{}; closing", id, peer,
              declared_bytes, cap, logged_in ? "" : " before login");
    reply(Request{id, 0, "", "", clock_.now()},
          make_error(Errc::Limit, fmt::format("message of {} bytes is over the limit of {} bytes{}",
                                              declared_bytes, cap,
                                              logged_in ? ""
                                                        : " for a connection that has not "
                                                          "logged in")));
}

Context Dispatcher::context(const ConnState& conn) {
    return Context{conn.session ? &*conn.session : nullptr, store_, presence_, clock_.wall_now(),
                   &tickets_};
}

void Dispatcher::on_frame(ConnId id, std::string_view body) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    ConnState& conn = it->second;
    auto msg = proto::decode(body, kRequestLimits);
    auto seq = msg ? msg->get_int("seq") : std::nullopt;
    auto op = msg ? msg->get_string("op") : std::nullopt;
    if (!seq || !op) {
        std::string why = !msg ? msg.error().message : "a request needs 'op' and 'seq'";
        log::warn("conn {} {}: bad request ({}); closing", id, conn.peer, why);
        reply(Request{id, seq.value_or(0), "", "", clock_.now()},
              make_error(Errc::BadInput, "unreadable request: " + why));
        out_.close_after_flush(id, "bad request");
        return;
    }
    route(Request{id, *seq, std::string(*op), conn.session ? conn.session->user_id : "",
                  clock_.now()},
          conn, *msg);
}

void Dispatcher::route(Request req, ConnState& conn, const proto::Value& msg) {
    const auto& table = route_table();
    auto found = table.find(req.op);
    if (found == table.end()) {
        return reply(req, make_error(Errc::BadInput,
                                     fmt::format("unknown operation '{}'", printable(req.op))));
    }
    const Route& route = found->second;
    if (route.needs_login && !conn.session) {
        return reply(req, make_error(Errc::NotLoggedIn, std::string(kNotLoggedInMessage)));
    }
    switch (route.account) {
        case AccountOp::CreateUser: return create_user(std::move(req), msg);
        case AccountOp::Login: return login(std::move(req), msg);
        case AccountOp::Resume: return resume(std::move(req), msg);
        case AccountOp::None: break;
    }
    if (conn.session && route.needs_live_session) {
        if (Status live = check_live(req, conn); !live) return reply(req, live.error());
    }
    Reply result = route.fn(context(conn), msg);
    if (!route.ends_session || !result || !conn.session) return reply(req, std::move(result));
    Session ended = *conn.session;
    unbind_session(req.conn);
    reply(req, std::move(result));
    end_sessions(req.conn, ended, logout_everywhere(msg));
}

Status Dispatcher::check_live(const Request& req, const ConnState& conn) {
    // A logout elsewhere (another connection, another tracker, logout --everywhere) ends the
    // session in the Store: no ticket for it after that.
    Status live = check_session_live(context(conn));
    if (!live && live.error().code == Errc::NotLoggedIn) {
        log::info("conn {} {}: session of {} has ended elsewhere; logged out", req.conn, conn.peer,
                  conn.session->user_id);
        unbind_session(req.conn);
    }
    return live;
}

void Dispatcher::end_sessions(ConnId id, const Session& ended, bool everywhere) {
    std::vector<ConnId> others;
    for (const auto& [other, state] : conns_) {
        if (other == id || !state.session) continue;
        if (everywhere ? state.session->user_pk == ended.user_pk
                       : state.session->token_hash == ended.token_hash) {
            others.push_back(other);
        }
    }
    // Closing may call on_disconnect, which erases from conns_: not while iterating it.
    for (ConnId other : others) {
        log::info("conn {} {}: session of {} ended by {} on conn {}; closing", other,
                  conns_.at(other).peer, ended.user_id,
                  everywhere ? "logout --everywhere" : "logout", id);
        unbind_session(other);
        out_.close_after_flush(other, "session logged out");
    }
}

std::optional<Error> Dispatcher::admit_hashed(const ConnState& conn) {
    if (conn.hashing >= limits_.max_hashing_per_connection) {
        return make_error(Errc::Throttled,
                          fmt::format("{} logins or sign-ups on this connection are still being "
                                      "checked; wait for their answers before sending more",
                                      conn.hashing));
    }
    auto from_here = hash_jobs_of_.find(conn.host);
    // A full queue takes a job from an address that holds far fewer than another
    // (queue_hash_job makes the room): a few flooding addresses cannot keep everyone else's
    // logins out.
    if ((hash_jobs_ >= limits_.max_hash_jobs && !hash_victim(conn.host)) ||
        (from_here != hash_jobs_of_.end() &&
         from_here->second >= limits_.max_hash_jobs_per_address)) {
        return hash_queue_full_error();
    }
    auto wait = attempts_.take(conn.host, clock_.now());
    if (wait > AddressRate::Clock::duration::zero()) {
        auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
        return make_error(Errc::Throttled,
                          fmt::format("too many logins and sign-ups from your address; try again "
                                      "in {} s",
                                      secs));
    }
    return std::nullopt;
}

std::optional<std::string> Dispatcher::hash_victim(const std::string& host) const {
    auto count_of = [&](const std::string& h) {
        auto n = hash_jobs_of_.find(h);
        return n == hash_jobs_of_.end() ? std::size_t{0} : n->second;
    };
    const std::size_t mine = count_of(host);
    std::optional<std::string> victim;
    std::size_t most = mine + 1;  // taking one from an address with mine + 1 would change nothing
    for (const auto& [other, jobs] : hash_waiting_) {
        if (other != host && !jobs.empty() && count_of(other) > most) {
            most = count_of(other);
            victim = other;
        }
    }
    return victim;
}

void Dispatcher::forget_hash_job(const std::string& host) {
    --hash_jobs_;
    count_down(hash_jobs_of_, host);
}

void Dispatcher::refuse_newest_hash_job(const std::string& victim) {
    auto waiting = hash_waiting_.find(victim);
    HashJob job = std::move(waiting->second.back());
    waiting->second.pop_back();
    if (waiting->second.empty()) {
        hash_waiting_.erase(waiting);
        std::erase(hash_turns_, victim);
    }
    forget_hash_job(victim);
    if (auto conn = conns_.find(job.conn); conn != conns_.end() && conn->second.hashing > 0) {
        --conn->second.hashing;
    }
    log::info(
        "conn {}: password queue full; its newest login or sign-up from {} makes room "
        "for another address",
        job.conn, victim);
    job.refuse();
}

void Dispatcher::queue_hash_job(const Request& req, std::function<void(HashFinished)> start) {
    const ConnId id = req.conn;
    if (hash_jobs_ >= limits_.max_hash_jobs) {
        if (auto victim = hash_victim(conns_.at(id).host)) refuse_newest_hash_job(*victim);
    }
    ConnState& conn = conns_.at(id);
    const std::string host = conn.host;
    ++conn.hashing;
    ++hash_jobs_;
    ++hash_jobs_of_[host];
    auto& waiting = hash_waiting_[host];
    waiting.push_back(
        HashJob{id, std::move(start), [this, req] { reply(req, hash_queue_full_error()); }});
    if (waiting.size() == 1) hash_turns_.push_back(host);
    start_hash_jobs();
}

void Dispatcher::start_hash_jobs() {
    while (hash_running_ < limits_.hash_workers && !hash_turns_.empty()) {
        std::string host = std::move(hash_turns_.front());
        hash_turns_.pop_front();
        auto waiting = hash_waiting_.find(host);
        HashJob job = std::move(waiting->second.front());
        waiting->second.pop_front();
        if (waiting->second.empty()) {
            hash_waiting_.erase(waiting);
        } else {
            hash_turns_.push_back(host);  // its next job waits for the other addresses' turns
        }
        if (conns_.find(job.conn) == conns_.end()) {
            forget_hash_job(host);  // its connection has gone: nobody waits for the answer
            continue;
        }
        ++hash_running_;
        // The hasher may answer before start() returns (the fuzz target's does): every count
        // is settled above, so end_hash_job may start the next jobs from inside this one.
        job.start([this, id = job.conn, host] { end_hash_job(id, host); });
    }
}

void Dispatcher::end_hash_job(ConnId id, const std::string& host) {
    --hash_running_;
    forget_hash_job(host);
    if (auto conn = conns_.find(id); conn != conns_.end() && conn->second.hashing > 0) {
        --conn->second.hashing;
    }
    start_hash_jobs();
}

void Dispatcher::reply(const Request& req, Reply result) {
    auto elapsed = std::chrono::duration<double, std::milli>(clock_.now() - req.started);
    const char* outcome = result ? "ok" : errc_name(result.error().code);
    // The reply's fields are moved, not copied, and encoded once.
    proto::Dict d;
    if (result) {
        d = std::move(*result);
        d["ok"] = 1;
    } else {
        d = proto::Dict{
            {"ok", 0}, {"code", errc_name(result.error().code)}, {"error", result.error().message}};
    }
    d["seq"] = req.seq;
    std::string body = proto::encode(proto::Value(std::move(d)));
    // No reply goes over the frame limit: the client would drop it (and the link). Listings
    // page well below it; this is the backstop for anything else.
    if (body.size() > proto::kMaxFrameBytes) {
        log::warn("conn {} op={}: reply of {} bytes is over the frame limit; refused", req.conn,
                  printable(req.op), body.size());
        return reply(
            req, make_error(Errc::Limit, fmt::format("the answer to {} would be over the {} byte "
                                                     "message limit; tell the tracker's operator",
                                                     printable(req.op), proto::kMaxFrameBytes)));
    }
    out_.send(req.conn, body);
    if (!req.op.empty()) {
        log::info("conn {} user={} op={} -> {} ({:.1f} ms)", req.conn,
                  req.user.empty() ? "-" : req.user, printable(req.op), outcome, elapsed.count());
    }
}

void Dispatcher::create_user(Request req, const proto::Value& msg) {
    auto user = msg.get_string("user");
    auto password = msg.get_string("password");
    if (!user || !password) {
        return reply(req, make_error(Errc::BadInput, "create_user needs a user id and a password"));
    }
    req.user = printable(*user);
    // Before the id is looked up: the rate also bounds how fast ids can be probed (SECURITY.md).
    if (auto refused = admit_hashed(conns_.at(req.conn))) return reply(req, std::move(*refused));
    if (Status ok = check_new_user(store_, *user, *password); !ok) {
        return reply(req, ok.error());
    }
    queue_hash_job(req, [this, req, user = std::string(*user),
                         pw = std::string(*password)](HashFinished finished) mutable {
        hasher_.hash(std::move(pw), [this, req, user, finished](std::string hash) {
            finished();
            user_hashed(req, user, std::move(hash));
        });
    });
}

void Dispatcher::user_hashed(const Request& req, const std::string& user, std::string hash) {
    if (conns_.find(req.conn) == conns_.end()) return;  // caller left
    if (hash.empty()) {
        return reply(req, make_error(Errc::Internal, "the tracker could not hash the password"));
    }
    auto created = store_.create_user(user, hash, clock_.wall_now());
    if (!created) return reply(req, created.error());
    if (!*created) return reply(req, already_exists_user_error(user));
    reply(req, proto::Dict{});
}

void Dispatcher::login(Request req, const proto::Value& msg) {
    if (auto user = msg.get_string("user")) req.user = printable(*user);
    const ConnState& conn = conns_.at(req.conn);
    // Before anything is counted or looked up (the per-user throttle included).
    if (auto refused = admit_hashed(conn)) return reply(req, std::move(*refused));
    auto pending =
        begin_login(store_, throttle_, msg, conn.session ? &*conn.session : nullptr, clock_.now());
    if (!pending) return reply(req, pending.error());
    queue_hash_job(
        req, [this, req, login = std::move(pending).value()](HashFinished finished) mutable {
            std::optional<std::string> hash;
            if (login.found) hash = login.found->password_hash;
            // The password goes to the hasher only; what waits for the answer does not hold it.
            std::string password = std::move(login.password);
            hasher_.verify(std::move(hash), std::move(password),
                           [this, req, login = std::move(login), finished](bool verified) {
                               finished();
                               login_checked(req, login, verified);
                           });
        });
}

void Dispatcher::login_checked(const Request& req, const PendingLogin& login, bool verified) {
    auto conn = conns_.find(req.conn);
    if (conn == conns_.end()) return;  // caller left while we hashed
    auto done = finish_login(store_, throttle_, login, verified, conn->second.peer, clock_.now(),
                             clock_.wall_now());
    if (!done) return reply(req, done.error());
    // Another login pipelined on this connection finished first: keep that one, and leave no
    // second token behind.
    if (const auto& current = conn->second.session) {
        (void)store_.delete_session(done->session.token_hash);
        return reply(req, already_logged_in_error(current->user_id));
    }
    bind_session(req.conn, done->session);
    reply(req, proto::Dict{{"token", std::move(done->token)},
                           {"user", done->session.user_id},
                           {"ticket_key", tickets_.public_key()}});
}

void Dispatcher::resume(Request req, const proto::Value& msg) {
    auto token = msg.get_string("token");
    auto listen = msg.get_string("listen");
    if (!token || !listen) {
        return reply(req, make_error(Errc::BadInput, "resume needs a token and a listen address"));
    }
    auto session =
        resume_session(store_, *token, *listen, conns_.at(req.conn).peer, clock_.wall_now());
    if (!session) return reply(req, session.error());
    req.user = session->user_id;
    unbind_session(req.conn);
    bind_session(req.conn, *session);
    reply(req, proto::Dict{{"user", session->user_id}, {"ticket_key", tickets_.public_key()}});
}

void Dispatcher::bind_session(ConnId id, Session session) {
    auto& conn = conns_.at(id);
    presence_[session.user_id].insert(session.listen_addr);
    conn.session = std::move(session);
    out_.set_authenticated(id, true);
}

void Dispatcher::unbind_session(ConnId id) {
    auto found = conns_.find(id);
    if (found == conns_.end() || !found->second.session) return;
    ConnState& conn = found->second;
    auto it = presence_.find(conn.session->user_id);
    if (it != presence_.end()) {
        auto addr = it->second.find(conn.session->listen_addr);
        if (addr != it->second.end()) it->second.erase(addr);
        if (it->second.empty()) presence_.erase(it);
    }
    conn.session.reset();
    out_.set_authenticated(id, false);  // back to the small frame cap of a stranger
}

}  // namespace gs::tracker
