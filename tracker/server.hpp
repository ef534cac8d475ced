// Server: the tracker's listening socket and every client Connection, on the reactor thread.
// Every connection speaks TLS 1.3 with the tracker's certificate (docs/protocol.md §1.4).
// Frames go to the Dispatcher; replies come back through send(). Connections that close are
// destroyed after the event batch.
#pragma once

#include "shared/net/connection.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/socket.hpp"
#include "shared/net/tls.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace gs::tracker {

class Dispatcher;
using ConnId = std::uint64_t;

struct ServerLimits {
    std::size_t max_connections = 20000;
    // One address (a host, a NAT) cannot take more than this many of them.
    std::size_t max_per_address = 256;
    // A client that sends nothing for this long is closed ("idle timeout").
    net::Clock::duration idle_timeout = std::chrono::seconds(600);
};

class Server {
public:
    // `tls` must outlive the Server.
    Server(net::EventLoop& loop, net::Fd listener, const net::TlsContext& tls,
           ServerLimits limits = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void set_dispatcher(Dispatcher* dispatcher) { dispatcher_ = dispatcher; }

    // Queues one reply frame on a connection; a connection that is gone is ignored.
    void send(ConnId id, std::string_view body);
    void close_after_flush(ConnId id, std::string_view reason);
    void stop_accepting();
    std::size_t connection_count() const { return connections_.size(); }

private:
    void on_acceptable();
    void on_closed(ConnId id, std::string_view reason);

    net::EventLoop& loop_;
    net::Fd listener_;
    net::WatchId listen_watch_ = 0;
    const net::TlsContext& tls_;
    ServerLimits limits_;
    Dispatcher* dispatcher_ = nullptr;
    ConnId next_id_ = 1;
    struct Client {
        std::unique_ptr<net::Connection> conn;
        std::string host;  // counted in per_address_
    };
    std::unordered_map<ConnId, Client> connections_;
    std::unordered_map<std::string, std::size_t> per_address_;
};

}  // namespace gs::tracker
