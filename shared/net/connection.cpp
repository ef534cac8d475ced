#include "shared/net/connection.hpp"

#include "shared/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

namespace gs::net {

namespace {
constexpr std::size_t kMaxReadPerEventBytes = 1024 * 1024;  // fairness between connections
constexpr std::size_t kTlsReadChunkBytes = 64 * 1024;
}  // namespace

Connection::Connection(EventLoop& loop, Fd fd, std::string peer_name, Callbacks callbacks,
                       ConnectionLimits limits, std::optional<TlsSession> tls)
    : loop_(loop),
      fd_(std::move(fd)),
      peer_name_(std::move(peer_name)),
      callbacks_(std::move(callbacks)),
      limits_(limits),
      last_activity_(loop.now()),
      tls_(std::move(tls)) {
    Interest first = Interest::Read;
    if (tls_) {
        // The client speaks first (its hello goes out once the socket is writable); nothing
        // runs in this constructor that could close the connection under its owner.
        handshaking_ = true;
        first = tls_->is_server() ? Interest::Read : Interest::Write;
        handshake_interest_ = first;
        handshake_timer_ = loop_.after(limits_.handshake_timeout, [this] {
            handshake_timer_ = 0;
            close_now("tls handshake timed out");
        });
    }
    watch_ = loop_.watch(fd_.get(), first, [this](Ready r) { on_ready(r); });
    arm_idle_timer();
}

Connection::~Connection() {
    loop_.cancel(idle_timer_);
    loop_.cancel(handshake_timer_);
    loop_.cancel(tls_read_timer_);
    loop_.cancel(resume_timer_);
    if (watch_ != 0) loop_.unwatch(watch_);
}

void Connection::arm_idle_timer() {
    if (limits_.idle_timeout.count() == 0) return;
    auto deadline = last_activity_ + limits_.idle_timeout;
    idle_timer_ = loop_.after(deadline - loop_.now(), [this] {
        idle_timer_ = 0;
        if (state_ == State::Closed) return;
        if (loop_.now() - last_activity_ >= limits_.idle_timeout) {
            // The notice goes out now if the socket takes it (an idle link's does), else never:
            // closing does not wait for a peer that does not read.
            if (!limits_.idle_notice.empty()) send_frame(limits_.idle_notice);
            close_now("idle timeout");
        } else {
            arm_idle_timer();
        }
    });
}

void Connection::send_frame(std::string_view body) {
    if (state_ != State::Open) return;
    // The header and the body go straight into the output buffer: no framed copy in between.
    char* header = out_.prepare(proto::kFrameHeaderBytes);
    proto::write_frame_header(header, static_cast<std::uint32_t>(body.size()));
    out_.commit(proto::kFrameHeaderBytes);
    out_.append(body);
    if (handshaking_) return;  // sent when the handshake completes
    // Write first; ask for writability only while bytes remain (docs/ARCHITECTURE.md, habit 2).
    if (!flush()) return;
    update_interest();
}

void Connection::set_frame_limits(std::size_t max_frame_bytes,
                                  std::size_t output_high_water_bytes) {
    limits_.max_frame_bytes = max_frame_bytes;
    limits_.output_high_water_bytes = output_high_water_bytes;
    update_interest();
}

std::size_t Connection::input_room() const {
    const std::size_t whole_frame = limits_.max_frame_bytes + proto::kFrameHeaderBytes;
    return in_.size() < whole_frame ? whole_frame - in_.size() : 0;
}

void Connection::close_after_flush(std::string_view reason) {
    if (state_ != State::Open) return;
    if (handshaking_) {
        close_now(reason);  // nothing can be flushed before the handshake
        return;
    }
    close_reason_ = std::string(reason);
    state_ = State::ClosingAfterFlush;
    if (out_.empty()) {
        close_now(reason);
    } else {
        update_interest();
    }
}

void Connection::close_now(std::string_view reason) {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    if (watch_ != 0) {
        loop_.unwatch(watch_);
        watch_ = 0;
    }
    loop_.cancel(idle_timer_);
    idle_timer_ = 0;
    loop_.cancel(handshake_timer_);
    handshake_timer_ = 0;
    loop_.cancel(tls_read_timer_);
    tls_read_timer_ = 0;
    loop_.cancel(resume_timer_);
    resume_timer_ = 0;
    if (tls_) {
        if (!handshaking_) tls_->shutdown();  // close_notify, so the peer sees a clean end
        tls_.reset();                         // it holds the fd number, which is about to be reused
    }
    fd_.reset();
    if (callbacks_.on_closed) callbacks_.on_closed(reason);
}

void Connection::update_interest() {
    if (state_ == State::Closed) return;
    if (handshaking_) {
        loop_.set_interest(watch_, handshake_interest_);
        return;
    }
    bool may_read =
        state_ == State::Open && !input_paused_ && out_.size() < limits_.output_high_water_bytes;
    bool want_write = !out_.empty() || read_wants_write_;
    bool want_read = may_read || write_wants_read_;
    Interest interest = want_read ? (want_write ? Interest::ReadWrite : Interest::Read)
                                  : (want_write ? Interest::Write : Interest::None);
    loop_.set_interest(watch_, interest);
    if (may_read && tls_ && tls_->pending_bytes() > 0) schedule_tls_read();
}

void Connection::on_ready(Ready ready) {
    try {
        if (handshaking_) {
            advance_handshake();
            return;
        }
        // A TLS read may wait for writability and a TLS write for readability.
        bool retry_write = tls_ && write_wants_read_ && ready.readable;
        bool retry_read = tls_ && read_wants_write_ && ready.writable;
        if (ready.writable || ready.hangup || retry_write) handle_writable();
        if (state_ != State::Closed && (ready.readable || ready.hangup || retry_read)) {
            tls_ ? read_tls() : read_plain();
        }
    } catch (const std::exception& e) {
        log::error("bug: exception in handler for {}: {}", peer_name_, e.what());
        close_now("internal error");
    }
}

bool Connection::flush() {
    if (!tls_) {
        if (out_.write_to(fd_.get())) return true;
        close_now(std::string("write: ") + std::strerror(errno));
        return false;
    }
    write_wants_read_ = false;
    while (!out_.empty()) {
        auto io = tls_->write(out_.data(), out_.size());
        switch (io.status) {
            case TlsSession::Status::Done: out_.consume(io.bytes); continue;
            case TlsSession::Status::WantWrite: return true;
            case TlsSession::Status::WantRead: write_wants_read_ = true; return true;
            case TlsSession::Status::Closed: close_now("closed by peer"); return false;
            case TlsSession::Status::Failed: close_now("tls write: " + tls_->error()); return false;
        }
    }
    return true;
}

void Connection::handle_writable() {
    if (state_ == State::Closed) return;
    if (!flush()) return;
    if (out_.empty() && state_ == State::ClosingAfterFlush) {
        close_now(close_reason_);
        return;
    }
    update_interest();
}

void Connection::advance_handshake() {
    switch (tls_->handshake()) {
        case TlsSession::Status::WantRead:
            handshake_interest_ = Interest::Read;
            update_interest();
            return;
        case TlsSession::Status::WantWrite:
            handshake_interest_ = Interest::Write;
            update_interest();
            return;
        case TlsSession::Status::Closed: close_now("tls handshake: closed by peer"); return;
        case TlsSession::Status::Failed: close_now("tls handshake: " + tls_->error()); return;
        case TlsSession::Status::Done: break;
    }
    handshaking_ = false;
    loop_.cancel(handshake_timer_);
    handshake_timer_ = 0;
    last_activity_ = loop_.now();
    if (callbacks_.on_secured) {
        callbacks_.on_secured(tls_->peer_fingerprint());
        if (state_ == State::Closed) return;
    }
    // The frames queued meanwhile go out now; data may have come with the last handshake flight.
    if (!flush()) return;
    read_tls();
    if (state_ == State::Closed) return;
    update_interest();
}

void Connection::read_plain() {
    if (state_ != State::Open) {
        // Discard what a closing peer still sends; we only wait for our output to drain.
        char sink[4096];
        while (::read(fd_.get(), sink, sizeof sink) > 0) {
        }
        return;
    }
    if (input_paused_) return;
    if (input_room() == 0) {
        process_input();  // a whole frame's worth is in: hand it on before reading more
        if (state_ != State::Open || input_paused_) return;
    }
    long n = in_.read_from(fd_.get(), std::min(kMaxReadPerEventBytes, input_room()));
    if (n > 0) {
        last_activity_ = loop_.now();
        process_input();
        return;
    }
    if (n == 0) {
        close_now("closed by peer");
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    close_now(std::string("read: ") + std::strerror(errno));
}

void Connection::read_tls() {
    if (state_ == State::Closed) return;
    read_wants_write_ = false;
    char sink[4096];
    std::size_t total = 0;
    bool unprocessed = false;  // bytes kept since frames were last handed on
    std::string ended;         // why the link ended, once it has
    while (total < kMaxReadPerEventBytes) {
        // While closing we still read, to see the peer's close, but keep nothing.
        const bool keep = state_ == State::Open;
        if (keep && input_paused_) break;  // the rest waits in OpenSSL and the socket
        std::size_t want = sizeof sink;
        if (keep) {
            if (input_room() == 0) {
                // A whole frame's worth is in: hand it on before reading more, so the buffer
                // never holds more than one frame at the cap (plus the frames before it).
                last_activity_ = loop_.now();
                process_input();
                unprocessed = false;
                if (state_ == State::Closed) return;
                continue;
            }
            want = std::min(kTlsReadChunkBytes, input_room());
        }
        char* dst = keep ? in_.prepare(want) : sink;
        auto io = tls_->read(dst, want);
        if (io.status == TlsSession::Status::Done) {
            if (keep) {
                in_.commit(io.bytes);
                unprocessed = true;
            }
            total += io.bytes;
            continue;
        }
        if (io.status == TlsSession::Status::WantWrite) read_wants_write_ = true;
        if (io.status == TlsSession::Status::Closed) ended = "closed by peer";
        if (io.status == TlsSession::Status::Failed) ended = "tls read: " + tls_->error();
        break;
    }
    if (unprocessed && state_ == State::Open) {
        last_activity_ = loop_.now();
        process_input();
    }
    if (state_ == State::Closed) return;
    if (!ended.empty()) {
        close_now(ended);
        return;
    }
    // At the cap OpenSSL may still hold decrypted bytes; update_interest schedules their read.
    update_interest();
}

void Connection::schedule_tls_read() {
    if (tls_read_timer_ != 0) return;
    tls_read_timer_ = loop_.after(Clock::duration::zero(), [this] {
        tls_read_timer_ = 0;
        try {
            read_tls();
        } catch (const std::exception& e) {
            log::error("bug: exception in handler for {}: {}", peer_name_, e.what());
            close_now("internal error");
        }
    });
}

void Connection::pause_input(bool paused) {
    if (state_ == State::Closed || paused == input_paused_) return;
    input_paused_ = paused;
    if (paused) {
        loop_.cancel(resume_timer_);
        resume_timer_ = 0;
        update_interest();
        return;
    }
    if (resume_timer_ != 0) return;
    resume_timer_ = loop_.after(Clock::duration::zero(), [this] {
        resume_timer_ = 0;
        try {
            process_input();
            if (state_ == State::Closed) return;
            update_interest();  // reads again (and what OpenSSL holds, for TLS)
        } catch (const std::exception& e) {
            log::error("bug: exception in handler for {}: {}", peer_name_, e.what());
            close_now("internal error");
        }
    });
}

void Connection::process_input() {
    while (state_ == State::Open && !input_paused_) {
        auto frame = proto::peek_frame(in_.view(), limits_.max_frame_bytes);
        if (frame.status == proto::FrameStatus::Incomplete) break;
        if (frame.status == proto::FrameStatus::TooLarge) {
            in_.clear();
            if (callbacks_.on_oversized) callbacks_.on_oversized(frame.declared_bytes);
            close_after_flush("oversized frame");
            return;
        }
        std::string_view body = frame.body;
        std::size_t total = frame.total_bytes;
        callbacks_.on_frame(body);
        if (state_ == State::Closed) return;
        in_.consume(total);
    }
    // Storage grown for a big frame is given back once it is handed on (a connection that
    // logged out keeps no more than its new cap needs).
    if (in_.empty() && in_.capacity() > 2 * (limits_.max_frame_bytes + proto::kFrameHeaderBytes)) {
        in_ = Buffer();
    }
}

}  // namespace gs::net
