// Dispatcher: decodes each request frame, checks the session, routes it to a handler
// (tracker/handlers) and queues the reply; keeps who is logged in on which connection
// (Presence). Password hashing and checking go to the WorkerPool and come back through the
// loop; a result for a connection that has gone is dropped. Reactor thread only.
#pragma once

#include "tracker/ticket_issuer.hpp"
#include "tracker/handlers/context.hpp"
#include "tracker/login_throttle.hpp"
#include "tracker/server.hpp"

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace gs {
class WorkerPool;
}

namespace gs::tracker {

class Store;

// Limits on the requests that cost a password hash (create_user, login) and on how often one
// address may make them (SECURITY.md, Limits). A refused request gets a one-line `throttled`
// error. Tests may shorten them.
struct AccountLimits {
    // Hashed requests of one connection waiting for their answer; one more is refused.
    std::size_t max_hashing_per_connection = 4;
    // Hash jobs waiting or running, in all and from one address (its share of the queue).
    std::size_t max_hash_jobs = 64;
    std::size_t max_hash_jobs_per_address = 16;
    // Jobs handed to the WorkerPool at once (its thread count). The others wait here and take
    // turns by address, so a flood from one address delays another address's login by at most
    // one job per worker.
    std::size_t hash_workers = 2;
    // login and create_user (answered or not) per address: a burst, then a steady rate. The
    // burst lets a whole NAT (max_per_address connections) log in at once.
    double attempts_burst = 256;
    double attempts_per_second = 2;
};

class Dispatcher {
public:
    // `ticket_lifetime`: shorter only in tests (tracker --ticket-lifetime).
    Dispatcher(net::EventLoop& loop, Server& server, Store& store, WorkerPool& workers,
               TicketSigner tickets, AccountLimits limits = {},
               std::chrono::seconds ticket_lifetime = kTicketLifetime);

    // `host`: the client's address without the port (what the per-address limits count).
    void on_connect(ConnId id, const std::string& peer, const std::string& host);
    void on_frame(ConnId id, std::string_view body);
    void on_oversized_frame(ConnId id, std::uint32_t declared_bytes);
    void on_disconnect(ConnId id, std::string_view reason);

private:
    struct ConnState {
        std::string peer;
        std::string host;
        std::optional<Session> session;
        std::size_t hashing = 0;  // its requests waiting for the hash worker
    };
    // A hash job waiting for a worker; `start` submits it, `refuse` answers it `throttled`
    // instead (when it makes room for another address's job).
    struct HashJob {
        ConnId conn;
        std::function<void()> start;
        std::function<void()> refuse;
    };
    struct Request {
        ConnId conn;
        std::int64_t seq;
        std::string op;
        std::string user;  // for the log line; never a secret
        net::Clock::time_point started;
    };

    void create_user(Request req, const proto::Value& msg);
    void login(Request req, const proto::Value& msg);
    void resume(Request req, const proto::Value& msg);
    void route(Request req, ConnState& conn, const proto::Value& msg);

    // Room for one more hashed request from `conn` (AccountLimits), and the address's rate:
    // an error to reply with when there is none.
    std::optional<Error> admit_hashed(const ConnState& conn);
    // Runs `work` on the WorkerPool when a worker is free (turns by address), then `done` on the
    // reactor thread with its result.
    template <class Work, class Done>
    void run_hashed(const Request& req, Work work, Done done);
    // The queue is full: the address whose newest waiting job would make room for one from
    // `host` (the one holding the most jobs, if it holds at least two more than `host`).
    std::optional<std::string> hash_victim(const std::string& host) const;
    void refuse_newest_hash_job(const std::string& victim);
    void start_hash_jobs();
    void end_hash_job(ConnId id, const std::string& host);

    void reply(const Request& req, const Reply& result);
    void bind_session(ConnId id, Session session);
    void unbind_session(ConnId id);
    // After a logout on `id`: closes the other connections of that session (or, `everywhere`,
    // every connection of that user), which the Store no longer knows.
    void end_sessions(ConnId id, const Session& ended, bool everywhere);
    Context context(const ConnState& conn);

    net::EventLoop& loop_;
    Server& server_;
    Store& store_;
    WorkerPool& workers_;
    TicketIssuer tickets_;
    std::unordered_map<ConnId, ConnState> conns_;
    Presence presence_;
    LoginThrottle throttle_;
    AccountLimits limits_;
    AddressRate attempts_;
    // Hash jobs: waiting by address, the addresses in turn, and counts.
    std::unordered_map<std::string, std::deque<HashJob>> hash_waiting_;
    std::deque<std::string> hash_turns_;
    std::unordered_map<std::string, std::size_t> hash_jobs_of_;  // waiting or running
    std::size_t hash_jobs_ = 0;
    std::size_t hash_running_ = 0;
    std::string dummy_hash_;  // verified against for unknown users, so timing reveals nothing
};

}  // namespace gs::tracker
