#include "tracker/dispatcher.hpp"

#include "shared/ids.hpp"
#include "shared/log.hpp"
#include "shared/proto/frame.hpp"
#include "shared/sha1.hpp"
#include "tracker/password_hasher.hpp"
#include "tracker/store.hpp"
#include "tracker/store_runner.hpp"

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

Dispatcher::Dispatcher(ConnOutput& out, StoreRunner& store, PasswordHasher& hasher,
                       TicketSigner tickets, AccountLimits limits,
                       std::chrono::seconds ticket_lifetime, const net::TimeSource& clock,
                       StoreLimits store_limits)
    : out_(out),
      runner_(store),
      hasher_(hasher),
      tickets_(std::make_shared<TicketIssuer>(std::move(tickets), ticket_lifetime)),
      clock_(clock),
      limits_(limits),
      store_limits_(store_limits),
      attempts_(limits.attempts_burst, limits.attempts_per_second) {}

void Dispatcher::on_connect(ConnId id, const std::string& peer, const std::string& host) {
    ConnState conn;
    conn.peer = peer;
    conn.host = host;
    conns_[id] = std::move(conn);
}

void Dispatcher::on_disconnect(ConnId id, std::string_view reason) {
    ConnState* conn = live(id);
    if (conn == nullptr) return;
    log::info("conn {} {} closed: {}", id, conn->peer, reason);
    // Its waiting requests are dropped: nobody is there to answer.
    waiting_ -= conn->waiting.size();
    conn->waiting.clear();
    conn->waiting_bytes = 0;
    conn->session.reset();
    if (conn->running) {
        conn->closed = true;  // forgotten when its job answers (store_job)
        return;
    }
    const bool online = conn->maybe_online;
    conns_.erase(id);  // its hash jobs that have not started are skipped (start_hash_jobs)
    if (online) set_offline(id);
}

Dispatcher::ConnState* Dispatcher::live(ConnId id) {
    auto it = conns_.find(id);
    return it == conns_.end() || it->second.closed ? nullptr : &it->second;
}

void Dispatcher::set_offline(ConnId id) {
    // After the connection's last job has answered, so it runs after any set_online of it.
    runner_.run([id](Store& store) { return store.set_offline(id); },
                [id](Status done) {
                    if (!done) {
                        log::warn("conn {}: could not mark it offline: {}", id,
                                  done.error().message);
                    }
                });
}

std::optional<Error> Dispatcher::admit_request(const ConnState& conn, std::size_t bytes) const {
    if (waiting_ + running_ >= store_limits_.max_requests) {
        return make_error(Errc::Throttled,
                          "tracker busy: too many requests are waiting for the database; try "
                          "again in a few seconds");
    }
    if (!conn.running && conn.waiting.empty()) return std::nullopt;  // it starts at once
    if (conn.waiting.size() >= store_limits_.max_waiting_per_connection ||
        conn.waiting_bytes + bytes > store_limits_.max_waiting_bytes_per_connection) {
        return make_error(Errc::Throttled,
                          fmt::format("tracker busy: {} requests on this connection are waiting "
                                      "for the database; wait for their answers before sending "
                                      "more",
                                      conn.waiting.size()));
    }
    return std::nullopt;
}

void Dispatcher::take_turn(ConnId id, Task task) {
    ConnState& conn = conns_.at(id);
    if (conn.running || !conn.waiting.empty()) {
        conn.waiting_bytes += task.bytes;
        conn.waiting.push_back(std::move(task));
        ++waiting_;
        if (!conn.paused && conn.waiting.size() >= store_limits_.pause_input_at) {
            conn.paused = true;
            out_.pause_input(id, true);
        }
        return;
    }
    task.start();
    next_turn(id);
}

void Dispatcher::next_turn(ConnId id) {
    for (ConnState* conn = live(id); conn != nullptr && !conn->running && !conn->waiting.empty();
         conn = live(id)) {
        Task task = std::move(conn->waiting.front());
        conn->waiting.pop_front();
        conn->waiting_bytes -= task.bytes;
        --waiting_;
        if (conn->paused && conn->waiting.size() <= store_limits_.pause_input_at / 2) {
            conn->paused = false;
            out_.pause_input(id, false);  // its frames come again in a later turn of the loop
        }
        task.start();  // may close the connection, or start its next job
    }
}

template <class Work, class Done>
void Dispatcher::store_job(ConnId id, Work work, Done done) {
    conns_.at(id).running = true;
    ++running_;
    runner_.run(std::move(work),
                alive_.guard([this, id, done = std::move(done)](auto result) mutable {
                    --running_;
                    auto it = conns_.find(id);
                    if (it == conns_.end()) return;
                    it->second.running = false;
                    if (it->second.closed) {
                        // It went while its job ran: the answer is dropped, and whatever the job
                        // told the Store about it is undone.
                        const bool online = it->second.maybe_online;
                        conns_.erase(it);
                        if (online) set_offline(id);
                        return;
                    }
                    done(std::move(result));
                    next_turn(id);
                }));
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

void Dispatcher::on_frame(ConnId id, std::string_view body) {
    ConnState* conn = live(id);
    if (conn == nullptr) return;
    auto msg = proto::decode(body, kRequestLimits);
    auto seq = msg ? msg->get_int("seq") : std::nullopt;
    auto op = msg ? msg->get_string("op") : std::nullopt;
    if (!seq || !op) {
        std::string why = !msg ? msg.error().message : "a request needs 'op' and 'seq'";
        log::warn("conn {} {}: bad request ({}); closing", id, conn->peer, why);
        reply(Request{id, seq.value_or(0), "", "", clock_.now()},
              make_error(Errc::BadInput, "unreadable request: " + why));
        out_.close_after_flush(id, "bad request");
        return;
    }
    Request req{id, *seq, std::string(*op), "", clock_.now()};
    if (auto refused = admit_request(*conn, body.size())) {
        if (conn->session) req.user = conn->session->user_id;
        return reply(req, std::move(*refused));
    }
    take_turn(id, Task{[this, req = std::move(req), msg = std::move(msg).value()]() mutable {
                           route(std::move(req), std::move(msg));
                       },
                       body.size()});
}

void Dispatcher::route(Request req, proto::Value msg) {
    const ConnState& conn = conns_.at(req.conn);
    if (conn.session) req.user = conn.session->user_id;
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
    run_handler(std::move(req), route, std::move(msg));
}

namespace {

// What a handler's job tells the reactor besides the reply.
enum class SessionChange { None, EndedElsewhere, LoggedOut };

struct HandlerAnswer {
    Reply reply = proto::Dict{};
    SessionChange session = SessionChange::None;
};

}  // namespace

void Dispatcher::run_handler(Request req, const Route& route, proto::Value msg) {
    const ConnState& conn = conns_.at(req.conn);
    const bool everywhere = route.ends_session && logout_everywhere(msg);
    // The job gets copies: the session, the request, the time, and a share of the ticket
    // issuer (thread-safe), so nothing in it is the reactor's.
    store_job(
        req.conn,
        [fn = route.fn, check_live = conn.session && route.needs_live_session,
         ends = route.ends_session, session = conn.session, msg = std::move(msg),
         now = clock_.wall_now(), tickets = tickets_, id = req.conn](Store& store) {
            Context ctx{session ? &*session : nullptr, store, now, tickets.get()};
            HandlerAnswer answer;
            if (check_live) {
                // A logout elsewhere (another connection, another tracker, logout
                // --everywhere) ends the session in the Store: no ticket for it after that.
                if (Status live = check_session_live(ctx); !live) {
                    if (live.error().code == Errc::NotLoggedIn) {
                        (void)store.set_offline(id);
                        answer.session = SessionChange::EndedElsewhere;
                    }
                    answer.reply = live.error();
                    return answer;
                }
            }
            answer.reply = fn(ctx, msg);
            if (ends && answer.reply && session) {
                (void)store.set_offline(id);
                answer.session = SessionChange::LoggedOut;
            }
            return answer;
        },
        [this, req, everywhere](HandlerAnswer answer) {
            const ConnState& state = conns_.at(req.conn);
            switch (answer.session) {
                case SessionChange::None: return reply(req, std::move(answer.reply));
                case SessionChange::EndedElsewhere:
                    log::info("conn {} {}: session of {} has ended elsewhere; logged out", req.conn,
                              state.peer, state.session->user_id);
                    unbind_session(req.conn);
                    return reply(req, std::move(answer.reply));
                case SessionChange::LoggedOut: {
                    Session ended = *state.session;
                    unbind_session(req.conn);
                    reply(req, std::move(answer.reply));
                    return end_sessions(req.conn, ended, everywhere);
                }
            }
        });
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
        ConnState& conn = conns_.at(other);
        log::info("conn {} {}: session of {} ended by {} on conn {}; closing", other, conn.peer,
                  ended.user_id, everywhere ? "logout --everywhere" : "logout", id);
        // It is closing: what it still had waiting will never be answered.
        waiting_ -= conn.waiting.size();
        conn.waiting.clear();
        conn.waiting_bytes = 0;
        unbind_session(other);
        if (!conn.running) {
            // Offline now, not once its last replies have drained (a job still running
            // leaves that to on_disconnect).
            conn.maybe_online = false;
            set_offline(other);
        }
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
    if (hash_queue_full_for(conn.host)) return hash_queue_full_error();
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

bool Dispatcher::hash_queue_full_for(const std::string& host) const {
    auto from_here = hash_jobs_of_.find(host);
    // A full queue takes a job from an address that holds far fewer than another
    // (queue_hash_job makes the room): a few flooding addresses cannot keep everyone else's
    // logins out.
    return (hash_jobs_ >= limits_.max_hash_jobs && !hash_victim(host)) ||
           (from_here != hash_jobs_of_.end() &&
            from_here->second >= limits_.max_hash_jobs_per_address);
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
    // Other requests may have filled the queue while this one's Store lookup ran (a pool
    // runner; inline nothing runs in between).
    if (hash_queue_full_for(conns_.at(id).host)) return reply(req, hash_queue_full_error());
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
        if (live(job.conn) == nullptr) {
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
    store_job(
        req.conn,
        [user = std::string(*user), password = std::string(*password)](Store& store) {
            return check_new_user(store, user, password);
        },
        [this, req, user = std::string(*user), password = std::string(*password)](Status ok) {
            if (!ok) return reply(req, ok.error());
            queue_hash_job(req, [this, req, user, pw = password](HashFinished finished) mutable {
                hasher_.hash(std::move(pw), [this, req, user, finished](std::string hash) {
                    finished();
                    user_hashed(req, user, std::move(hash));
                });
            });
        });
}

void Dispatcher::user_hashed(const Request& req, const std::string& user, std::string hash) {
    if (live(req.conn) == nullptr) return;  // caller left
    if (hash.empty()) {
        return reply(req, make_error(Errc::Internal, "the tracker could not hash the password"));
    }
    // The insert takes the connection's turn like a request.
    take_turn(req.conn, Task{[this, req, user, hash = std::move(hash)] {
                  store_job(
                      req.conn,
                      [user, hash, now = clock_.wall_now()](Store& store) {
                          return store.create_user(user, hash, now);
                      },
                      [this, req, user](Result<bool> created) {
                          if (!created) return reply(req, created.error());
                          if (!*created) return reply(req, already_exists_user_error(user));
                          reply(req, proto::Dict{});
                      });
              }});
}

void Dispatcher::login(Request req, const proto::Value& msg) {
    if (auto user = msg.get_string("user")) req.user = printable(*user);
    const ConnState& conn = conns_.at(req.conn);
    // Before anything is counted or looked up (the per-user throttle included).
    if (auto refused = admit_hashed(conn)) return reply(req, std::move(*refused));
    auto pending =
        take_login(throttle_, msg, conn.session ? &*conn.session : nullptr, clock_.now());
    if (!pending) return reply(req, pending.error());
    store_job(
        req.conn,
        [login = std::move(pending).value()](Store& store) mutable -> Result<PendingLogin> {
            if (Status found = look_up_login(store, login); !found) return found.error();
            return std::move(login);
        },
        [this, req](Result<PendingLogin> found) {
            if (!found) return reply(req, found.error());
            queue_hash_job(
                req, [this, req, login = std::move(found).value()](HashFinished finished) mutable {
                    std::optional<std::string> hash;
                    if (login.found) hash = login.found->password_hash;
                    // The password goes to the hasher only; what waits for the answer does not
                    // hold it.
                    std::string password = std::move(login.password);
                    hasher_.verify(std::move(hash), std::move(password),
                                   [this, req, login = std::move(login), finished](bool verified) {
                                       finished();
                                       login_checked(req, login, verified);
                                   });
                });
        });
}

void Dispatcher::login_checked(const Request& req, const PendingLogin& login, bool verified) {
    if (live(req.conn) == nullptr) return;  // caller left while we hashed
    // The session is made in the connection's turn, after the requests that came before.
    take_turn(req.conn,
              Task{[this, req, login, verified] { open_login_session(req, login, verified); }});
}

void Dispatcher::open_login_session(const Request& req, const PendingLogin& login, bool verified) {
    ConnState& conn = conns_.at(req.conn);
    auto session = settle_login(throttle_, login, verified, conn.peer, clock_.now());
    if (!session) return reply(req, session.error());
    // Another login pipelined on this connection finished first: keep that one.
    if (conn.session) return reply(req, already_logged_in_error(conn.session->user_id));
    conn.maybe_online = true;
    store_job(
        req.conn,
        [id = req.conn, session = std::move(session).value(),
         now = clock_.wall_now()](Store& store) mutable -> Result<LoggedIn> {
            LoggedIn in{std::move(session), ""};
            auto token = open_session(store, in.session, now);
            if (!token) return token.error();
            in.token = std::move(token).value();
            if (Status online = store.set_online(id, in.session.user_pk, in.session.listen_addr,
                                                 to_hex(in.session.peer_key));
                !online) {
                (void)store.delete_session(in.session.token_hash);  // no token left behind
                return online.error();
            }
            return in;
        },
        [this, req](Result<LoggedIn> done) {
            if (!done) return reply(req, done.error());
            bind_session(req.conn, done->session);
            reply(req, proto::Dict{{"token", std::move(done->token)},
                                   {"user", done->session.user_id},
                                   {"ticket_key", tickets_->public_key()}});
        });
}

void Dispatcher::resume(Request req, const proto::Value& msg) {
    auto token = msg.get_string("token");
    auto listen = msg.get_string("listen");
    if (!token || !listen) {
        return reply(req, make_error(Errc::BadInput, "resume needs a token and a listen address"));
    }
    auto peer_key = read_peer_key(msg);
    if (!peer_key) return reply(req, peer_key.error());
    ConnState& conn = conns_.at(req.conn);
    conn.maybe_online = true;
    store_job(
        req.conn,
        [id = req.conn, token = std::string(*token), listen = std::string(*listen),
         peer = conn.peer, was_online = conn.session.has_value(), now = clock_.wall_now(),
         peer_key = std::move(*peer_key)](Store& store) -> Result<Session> {
            auto session = resume_session(store, token, listen, peer, now);
            if (!session) return session.error();
            session->peer_key = peer_key;
            // The connection is online as the resumed session instead of its old one.
            if (was_online) (void)store.set_offline(id);
            if (Status online = store.set_online(id, session->user_pk, session->listen_addr,
                                                 to_hex(session->peer_key));
                !online) {
                return online.error();
            }
            return session;
        },
        [this, req](Result<Session> session) mutable {
            if (!session) return reply(req, session.error());
            req.user = session->user_id;
            unbind_session(req.conn);
            bind_session(req.conn, *session);
            reply(req,
                  proto::Dict{{"user", session->user_id}, {"ticket_key", tickets_->public_key()}});
        });
}

void Dispatcher::bind_session(ConnId id, Session session) {
    conns_.at(id).session = std::move(session);
    out_.set_authenticated(id, true);
}

void Dispatcher::unbind_session(ConnId id) {
    auto found = conns_.find(id);
    if (found == conns_.end() || !found->second.session) return;
    found->second.session.reset();
    out_.set_authenticated(id, false);  // back to the small frame cap of a stranger
}

}  // namespace gs::tracker
