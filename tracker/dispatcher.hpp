// Dispatcher: the tracker's request core, with no socket in it. The Server feeds it frames
// (FrameSink); it decodes each request, routes it by route_table() (tracker/handlers), checks
// and binds sessions, tells the Store who is online, ends the other connections of a session
// that logs out, and answers through a ConnOutput (the Server, or a test's recorder). Every
// Store call goes through a StoreRunner (inline for SQLite and the fuzz target: then each
// request is answered before on_frame returns; a pool of threads for a database across a
// network). One connection's requests run one at a time, in order: the next starts when the
// previous has its answer (its Store work done); other connections' run meanwhile. create_user
// and login go to a PasswordHasher (argon2id on the WorkerPool; inline in the fuzz target),
// taking turns by address, and do not hold their connection's turn while they hash. An answer
// for a connection that has gone is dropped. Reactor thread only.
#pragma once

#include "shared/liveness.hpp"
#include "shared/net/clock.hpp"
#include "tracker/frame_io.hpp"
#include "tracker/handlers/context.hpp"
#include "tracker/handlers/handlers.hpp"
#include "tracker/login_throttle.hpp"
#include "tracker/ticket_issuer.hpp"

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace gs::tracker {

class PasswordHasher;
class StoreRunner;

// Limits on the requests that cost a password hash (create_user, login) and on how often one
// address may make them (SECURITY.md, Limits). A refused request gets a one-line `throttled`
// error. Tests may shorten them.
struct AccountLimits {
    // Hashed requests of one connection waiting for their answer; one more is refused.
    std::size_t max_hashing_per_connection = 4;
    // Hash jobs waiting or running, in all and from one address (its share of the queue).
    std::size_t max_hash_jobs = 64;
    std::size_t max_hash_jobs_per_address = 16;
    // Jobs handed to the hasher at once (the WorkerPool's thread count). The others wait here
    // and take turns by address, so a flood from one address delays another address's login by
    // at most one job per worker.
    std::size_t hash_workers = 2;
    // login and create_user (answered or not) per address: a burst, then a steady rate. The
    // burst lets a whole NAT (max_per_address connections) log in at once.
    double attempts_burst = 256;
    double attempts_per_second = 2;
};

// Requests waiting for the Store (SECURITY.md, Limits). With the inline runner (SQLite) each
// request is answered before the next is read, so none ever waits; with a pool they wait behind
// their connection's running request, and past these limits are answered `tracker busy`.
struct StoreLimits {
    // At this many requests of one connection waiting, its input is paused (ConnOutput::
    // pause_input: nothing more is read from it, the client's TCP window fills) until half of
    // them have run: a client that pipelines many requests is slowed down, not refused.
    std::size_t pause_input_at = 8;
    // Requests of one connection waiting behind its running one, and their bytes (past them:
    // `tracker busy`; with the Server's pausing only a frame batch already read can get here).
    std::size_t max_waiting_per_connection = 32;
    std::size_t max_waiting_bytes_per_connection = 8 * 1024 * 1024;
    // Requests waiting or with the StoreRunner, in all.
    std::size_t max_requests = 4096;
};

class Dispatcher final : public FrameSink {
public:
    // `out`, `store` and `hasher` must outlive it. `ticket_lifetime`: shorter only in tests
    // (tracker --ticket-lifetime).
    Dispatcher(ConnOutput& out, StoreRunner& store, PasswordHasher& hasher, TicketSigner tickets,
               AccountLimits limits = {}, std::chrono::seconds ticket_lifetime = kTicketLifetime,
               const net::TimeSource& clock = net::TimeSource::system(),
               StoreLimits store_limits = {});

    void on_connect(ConnId id, const std::string& peer, const std::string& host) override;
    void on_frame(ConnId id, std::string_view body) override;
    void on_oversized_frame(ConnId id, std::uint32_t declared_bytes) override;
    void on_disconnect(ConnId id, std::string_view reason) override;

private:
    // A step of a connection's work that takes its turn: a request, or a hashed request's
    // answer coming back. It runs when the connection has no Store work running.
    struct Task {
        std::function<void()> start;
        std::size_t bytes = 0;  // of the request's body (0 for an answer coming back)
    };
    struct ConnState {
        std::string peer;
        std::string host;
        std::optional<Session> session;
        std::size_t hashing = 0;  // its requests waiting for the hasher
        std::deque<Task> waiting;
        std::size_t waiting_bytes = 0;
        bool running = false;       // a job of it is with the StoreRunner
        bool closed = false;        // disconnected while running: forgotten at that answer
        bool maybe_online = false;  // a job may have told the Store it is online
        bool paused = false;        // its input is paused (StoreLimits::pause_input_at)
    };
    // Called when a started hash job has its answer, before the job's own continuation.
    using HashFinished = std::function<void()>;
    // A hash job waiting for a worker; `start` hands it to the hasher, `refuse` answers it
    // `throttled` instead (when it makes room for another address's job).
    struct HashJob {
        ConnId conn;
        std::function<void(HashFinished)> start;
        std::function<void()> refuse;
    };
    struct Request {
        ConnId conn;
        std::int64_t seq;
        std::string op;
        std::string user;  // for the log line; never a secret
        net::Clock::time_point started;
    };

    // The connection, unless it is gone (or closed, waiting for its running job's answer).
    ConnState* live(ConnId id);
    // Runs `task` now if the connection has nothing running or waiting, else queues it.
    void take_turn(ConnId id, Task task);
    // Starts the connection's waiting tasks while none has Store work running.
    void next_turn(ConnId id);
    // Room for one more request: none when the connection's queue or the whole Dispatcher's
    // is full (StoreLimits).
    std::optional<Error> admit_request(const ConnState& conn, std::size_t bytes) const;
    // Runs `work(Store&)` through the runner as the connection's running job; `done(result)`
    // runs on the reactor when it answers, unless the connection has gone meanwhile.
    template <class Work, class Done>
    void store_job(ConnId id, Work work, Done done);
    // After a connection has gone: the Store forgets it is online.
    void set_offline(ConnId id);

    // By route_table(): unknown op, login check, then the account op or the handler.
    void route(Request req, proto::Value msg);
    // The handler on the runner; for ops that issue tickets only while the session is still
    // live in the Store (a logout elsewhere ends it: then it is unbound from the connection).
    void run_handler(Request req, const Route& route, proto::Value msg);
    void create_user(Request req, const proto::Value& msg);
    void user_hashed(const Request& req, const std::string& user, std::string hash);
    void login(Request req, const proto::Value& msg);
    void login_checked(const Request& req, const PendingLogin& login, bool verified);
    void open_login_session(const Request& req, const PendingLogin& login, bool verified);
    void resume(Request req, const proto::Value& msg);

    // Room for one more hashed request from `conn` (AccountLimits), and the address's rate:
    // an error to reply with when there is none.
    std::optional<Error> admit_hashed(const ConnState& conn);
    // Whether the hash queue has no room for a job from `host` (none can be made either).
    bool hash_queue_full_for(const std::string& host) const;
    // Queues `start` until a worker is free (turns by address); it must call its HashFinished
    // when the hasher answers. Refuses the request if the queue filled up since admit_hashed.
    void queue_hash_job(const Request& req, std::function<void(HashFinished)> start);
    // The queue is full: the address whose newest waiting job would make room for one from
    // `host` (the one holding the most jobs, if it holds at least two more than `host`).
    std::optional<std::string> hash_victim(const std::string& host) const;
    void refuse_newest_hash_job(const std::string& victim);
    void start_hash_jobs();
    // A job of `host` has left the queue (answered, refused or skipped).
    void forget_hash_job(const std::string& host);
    void end_hash_job(ConnId id, const std::string& host);

    void reply(const Request& req, Reply result);
    // The connection's session on this side (its presence in the Store is set by the job that
    // made or ended the session).
    void bind_session(ConnId id, Session session);
    void unbind_session(ConnId id);
    // After a logout on `id`: closes the other connections of that session (or, `everywhere`,
    // every connection of that user), which the Store no longer knows.
    void end_sessions(ConnId id, const Session& ended, bool everywhere);

    ConnOutput& out_;
    StoreRunner& runner_;
    PasswordHasher& hasher_;
    // Shared with the handlers' jobs, which may still run on a worker while this goes.
    std::shared_ptr<TicketIssuer> tickets_;
    const net::TimeSource& clock_;  // steady for deadlines and timings, wall for the Store
    std::unordered_map<ConnId, ConnState> conns_;
    LoginThrottle throttle_;
    AccountLimits limits_;
    StoreLimits store_limits_;
    std::size_t waiting_ = 0;  // requests waiting for their connection's turn, in all
    std::size_t running_ = 0;  // connections' jobs with the runner
    AddressRate attempts_;
    // Hash jobs: waiting by address, the addresses in turn, and counts.
    std::unordered_map<std::string, std::deque<HashJob>> hash_waiting_;
    std::deque<std::string> hash_turns_;
    std::unordered_map<std::string, std::size_t> hash_jobs_of_;  // waiting or running
    std::size_t hash_jobs_ = 0;
    std::size_t hash_running_ = 0;
    Liveness alive_;  // last: the runner's answers after the Dispatcher has gone are dropped
};

}  // namespace gs::tracker
