// Server: the tracker's listening socket and every client Connection, on the reactor thread.
// Every connection speaks TLS 1.3 with the tracker's certificate (docs/protocol.md §1.4).
// It owns its FrameSink (the Dispatcher), made at construction with the Server as its
// ConnOutput: frames go to the sink, replies come back through send(). Connections that close
// are destroyed after the event batch.
#pragma once

#include "shared/net/connection.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/socket.hpp"
#include "shared/net/tls.hpp"
#include "tracker/frame_io.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace gs::tracker {

struct ServerLimits {
    std::size_t max_connections = 20000;
    // One address (a host, a NAT) cannot take more than this many of them.
    std::size_t max_per_address = 256;
    // A client that sends nothing for this long is closed ("idle timeout"), after a last frame
    // that says so (seq 0, "closing": "idle"; docs/protocol.md §1.2).
    net::Clock::duration idle_timeout = std::chrono::seconds(600);
    // Until a connection has logged in (login or resume), its frames are capped far below the
    // protocol's kMaxFrameBytes: create_user, login and resume are small (a password is at most
    // kMaxPasswordBytes), so a socket without an account cannot make the tracker hold megabytes
    // for it. Its unsent replies are kept small too. Logout returns to these caps.
    std::size_t preauth_max_frame_bytes = 64 * 1024;
    std::size_t preauth_output_high_water_bytes = 64 * 1024;
    // After login: the protocol's caps (docs/protocol.md §1.1).
    std::size_t max_frame_bytes = proto::kMaxFrameBytes;
    std::size_t output_high_water_bytes = 8 * 1024 * 1024;
};

class Server final : public ConnOutput {
public:
    // Makes the sink the Server feeds, given the Server to answer through.
    using MakeSink = std::function<std::unique_ptr<FrameSink>(ConnOutput& out)>;

    // `tls` must outlive the Server.
    Server(net::EventLoop& loop, net::Fd listener, const net::TlsContext& tls, MakeSink make_sink,
           ServerLimits limits = {});
    ~Server() override;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void send(ConnId id, std::string_view body) override;
    void close_after_flush(ConnId id, std::string_view reason) override;
    void set_authenticated(ConnId id, bool authenticated) override;
    std::size_t max_frame_bytes(ConnId id) const override;
    void pause_input(ConnId id, bool paused) override;
    const ServerLimits& limits() const { return limits_; }
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
    // Sent to a client before its link is closed for idleness (docs/protocol.md §1.2).
    std::string idle_notice_;
    std::unique_ptr<FrameSink> sink_;  // outlives the connections (declared before them)
    ConnId next_id_ = 1;
    struct Client {
        std::unique_ptr<net::Connection> conn;
        std::string host;  // counted in per_address_
    };
    std::unordered_map<ConnId, Client> connections_;
    std::unordered_map<std::string, std::size_t> per_address_;
};

}  // namespace gs::tracker
