// What passes between the Server (sockets) and the Dispatcher (the request core): frames in
// through a FrameSink, replies and connection changes out through a ConnOutput. Either side can
// be stood in for: the fuzz target and unit tests drive a Dispatcher with no socket, and a
// Server's limits are tested with a sink that ignores frames. Reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gs::tracker {

using ConnId = std::uint64_t;

// Where the Server sends what its connections do.
class FrameSink {
public:
    virtual ~FrameSink() = default;
    // `peer` is "IP:PORT"; `host` the address without the port (what per-address limits count).
    virtual void on_connect(ConnId id, const std::string& peer, const std::string& host) = 0;
    // One whole frame body, valid for the call only.
    virtual void on_frame(ConnId id, std::string_view body) = 0;
    // A frame over the connection's cap was announced: one error reply may be sent, after which
    // the connection flushes and closes.
    virtual void on_oversized_frame(ConnId id, std::uint32_t declared_bytes) = 0;
    virtual void on_disconnect(ConnId id, std::string_view reason) = 0;
};

// What the request core does to connections. A connection that is gone is ignored.
class ConnOutput {
public:
    virtual ~ConnOutput() = default;
    // Queues one frame whose body is `body` (encoded once by the caller).
    virtual void send(ConnId id, std::string_view body) = 0;
    virtual void close_after_flush(ConnId id, std::string_view reason) = 0;
    // Logged in: the full frame cap; logged out: the small one of a connection before login.
    virtual void set_authenticated(ConnId id, bool authenticated) = 0;
    // The frame cap in force on a connection (0 if it is gone).
    virtual std::size_t max_frame_bytes(ConnId id) const = 0;
    // Back-pressure: stop (true) or start again handing on the connection's frames and reading
    // its socket (net::Connection::pause_input). A stand-in may ignore it: the Dispatcher
    // still refuses what comes past its limits.
    virtual void pause_input(ConnId /*id*/, bool /*paused*/) {}
};

}  // namespace gs::tracker
