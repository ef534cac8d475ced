// Connection: one framed client<->tracker socket (docs/protocol.md §1.1) — fd, optional TLS
// session (§1.4), input and output Buffers, frame codec, state and idle deadline. Owned by the
// tracker's Server or the client's TrackerClient, on the reactor thread. It never destroys
// itself: when it closes it calls on_closed once, and the owner destroys it after the event
// batch (EventLoop::defer).
#pragma once

#include "shared/net/buffer.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "shared/net/tls.hpp"
#include "shared/proto/frame.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gs::net {

struct ConnectionLimits {
    std::size_t max_frame_bytes = proto::kMaxFrameBytes;
    // Past this many unsent bytes we stop reading from the peer until it drains them.
    std::size_t output_high_water_bytes = 8 * 1024 * 1024;
    // A peer that sends nothing for this long is closed ("idle timeout"); 0: never.
    Clock::duration idle_timeout{0};
    // If not empty: the frame body sent to an idle peer before the link closes, so that it knows
    // why (the tracker says so; a client then reconnects quietly, docs/protocol.md §1.2).
    std::string idle_notice;
    // With TLS: a peer that has not completed the handshake by then is closed.
    Clock::duration handshake_timeout = kTlsHandshakeTimeout;
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
        // With TLS: the handshake is done; `peer_fingerprint` is that of the peer's certificate
        // ("" if none). The owner may close_now() here to refuse the peer: frames queued so far
        // go out only after this returns.
        std::function<void(std::string_view peer_fingerprint)> on_secured;
    };

    // With `tls`, everything on the socket is TLS: frames passed to send_frame() before the
    // handshake completes are queued and sent after it.
    Connection(EventLoop& loop, Fd fd, std::string peer_name, Callbacks callbacks,
               ConnectionLimits limits = {}, std::optional<TlsSession> tls = std::nullopt);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void send_frame(std::string_view body);
    // Changes the frame cap and the output high-water mark (the tracker's smaller caps before
    // login, tracker/server.hpp). Frames already buffered are checked against the new cap.
    void set_frame_limits(std::size_t max_frame_bytes, std::size_t output_high_water_bytes);
    std::size_t max_frame_bytes() const { return limits_.max_frame_bytes; }
    void close_after_flush(std::string_view reason);
    void close_now(std::string_view reason);
    // Back-pressure from the owner (the tracker's Dispatcher, while a connection's requests wait
    // for the database): paused, no more frames are handed on (not even those already in the
    // input buffer, after the current one) and nothing more is read, so the peer's TCP window
    // fills. Resuming hands on the buffered frames in a later turn of the loop, never inside
    // this call.
    void pause_input(bool paused);
    bool is_input_paused() const { return input_paused_; }

    bool is_open() const { return state_ == State::Open; }
    bool is_handshaking() const { return handshaking_; }
    State state() const { return state_; }
    const std::string& peer_name() const { return peer_name_; }
    int fd() const { return fd_.get(); }

private:
    void on_ready(Ready ready);
    void read_plain();
    void handle_writable();
    // Writes what the socket takes; false if that closed the connection.
    bool flush();
    void advance_handshake();
    void read_tls();
    void schedule_tls_read();
    void process_input();
    // How many more bytes the input buffer may take before the frames in it are handed on: one
    // whole frame at the cap. An unfinished frame never holds more than that.
    std::size_t input_room() const;
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

    std::optional<TlsSession> tls_;
    bool handshaking_ = false;
    Interest handshake_interest_ = Interest::None;  // what the handshake waits for
    TimerId handshake_timer_ = 0;
    // A TLS read may need the socket writable (and a write readable) before it can go on.
    bool read_wants_write_ = false;
    bool write_wants_read_ = false;
    // A read for the bytes OpenSSL holds when we stopped at the per-event cap or high-water
    // mark: epoll does not know about them. A timer, so the destructor can cancel it.
    TimerId tls_read_timer_ = 0;
    bool input_paused_ = false;
    TimerId resume_timer_ = 0;  // hands on the buffered frames after pause_input(false)
};

}  // namespace gs::net
