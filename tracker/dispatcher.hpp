// Dispatcher: decodes each request frame, checks the session, routes it to a handler
// (tracker/handlers) and queues the reply; keeps who is logged in on which connection
// (Presence). Password hashing and checking go to the WorkerPool and come back through the
// loop; a result for a connection that has gone is dropped. Reactor thread only.
#pragma once

#include "tracker/ticket_issuer.hpp"
#include "tracker/handlers/context.hpp"
#include "tracker/login_throttle.hpp"
#include "tracker/server.hpp"

#include <optional>
#include <string>
#include <unordered_map>

namespace gs {
class WorkerPool;
}

namespace gs::tracker {

class Store;

class Dispatcher {
public:
    // `ticket_lifetime`: shorter only in tests (tracker --ticket-lifetime).
    Dispatcher(net::EventLoop& loop, Server& server, Store& store, WorkerPool& workers,
               TicketSigner tickets, std::chrono::seconds ticket_lifetime = kTicketLifetime);

    void on_connect(ConnId id, const std::string& peer);
    void on_frame(ConnId id, std::string_view body);
    void on_oversized_frame(ConnId id, std::uint32_t declared_bytes);
    void on_disconnect(ConnId id, std::string_view reason);

private:
    struct ConnState {
        std::string peer;
        std::optional<Session> session;
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

    void reply(const Request& req, const Reply& result);
    void bind_session(ConnId id, Session session);
    void unbind_session(ConnState& conn);
    Context context(const ConnState& conn);

    net::EventLoop& loop_;
    Server& server_;
    Store& store_;
    WorkerPool& workers_;
    TicketIssuer tickets_;
    std::unordered_map<ConnId, ConnState> conns_;
    Presence presence_;
    LoginThrottle throttle_;
    std::string dummy_hash_;  // verified against for unknown users, so timing reveals nothing
};

}  // namespace gs::tracker
