// Connection: one framed client<->tracker socket (docs/protocol.md §1.1) — fd, input and output
// Buffers, frame codec, state and idle deadline. Owned by the tracker's Server or the client's
// TrackerClient, on the reactor thread. It never destroys itself: when it closes it calls
// on_closed once, and the owner destroys it after the event batch (EventLoop::defer).
#pragma once

#include "shared/net/buffer.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "shared/proto/frame.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gs::net {

struct ConnectionLimits {
    std::size_t max_frame_bytes = proto::kMaxFrameBytes;
    // Past this many unsent bytes we stop reading from the peer until it drains them.
    std::size_t output_high_water_bytes = 8 * 1024 * 1024;
    std::chrono::seconds idle_timeout{0};  // 0: never
};

class Connection {
public:
    enum class State { Open, ClosingAfterFlush, Closed };

    struct Callbacks {
        std::function<void(std::string_view body)> on_frame;
        // An oversized frame was announced; the owner may send_frame() one error reply, after
        // which the connection flushes and closes.
        std::function<void(std::uint32_t declared_bytes)> on_oversized;
        std::function<void(std::string_view reason)> on_closed;
    };

    Connection(EventLoop& loop, Fd fd, std::string peer_name, Callbacks callbacks,
               ConnectionLimits limits = {});
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void send_frame(std::string_view body);
    void close_after_flush(std::string_view reason);
    void close_now(std::string_view reason);

    bool is_open() const { return state_ == State::Open; }
    State state() const { return state_; }
    const std::string& peer_name() const { return peer_name_; }
    int fd() const { return fd_.get(); }

private:
    void on_ready(Ready ready);
    void handle_readable();
    void handle_writable();
    void process_input();
    void update_interest();
    void arm_idle_timer();

    EventLoop& loop_;
    Fd fd_;
    std::string peer_name_;
    Callbacks callbacks_;
    ConnectionLimits limits_;
    WatchId watch_ = 0;
    TimerId idle_timer_ = 0;
    Clock::time_point last_activity_;
    Buffer in_;
    Buffer out_;
    std::string close_reason_;
    State state_ = State::Open;
};

}  // namespace gs::net
