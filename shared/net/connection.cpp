#include "shared/net/connection.hpp"

#include "shared/log.hpp"

#include <cerrno>
#include <cstring>
#include <exception>

namespace gs::net {

namespace {
constexpr std::size_t kMaxReadPerEventBytes = 1024 * 1024;  // fairness between connections
}

Connection::Connection(EventLoop& loop, Fd fd, std::string peer_name, Callbacks callbacks,
                       ConnectionLimits limits)
    : loop_(loop),
      fd_(std::move(fd)),
      peer_name_(std::move(peer_name)),
      callbacks_(std::move(callbacks)),
      limits_(limits),
      last_activity_(Clock::now()) {
    watch_ = loop_.watch(fd_.get(), Interest::Read, [this](Ready r) { on_ready(r); });
    arm_idle_timer();
}

Connection::~Connection() {
    loop_.cancel(idle_timer_);
    if (watch_ != 0) loop_.unwatch(watch_);
}

void Connection::arm_idle_timer() {
    if (limits_.idle_timeout.count() == 0) return;
    auto deadline = last_activity_ + limits_.idle_timeout;
    idle_timer_ = loop_.after(deadline - Clock::now(), [this] {
        idle_timer_ = 0;
        if (state_ == State::Closed) return;
        if (Clock::now() - last_activity_ >= limits_.idle_timeout) {
            close_now("idle timeout");
        } else {
            arm_idle_timer();
        }
    });
}

void Connection::send_frame(std::string_view body) {
    if (state_ != State::Open) return;
    std::string framed = proto::make_frame(body);
    out_.append(framed);
    // Write first; ask for writability only while bytes remain (STYLE.md habit 1).
    if (!out_.write_to(fd_.get())) {
        close_now(std::string("write: ") + std::strerror(errno));
        return;
    }
    update_interest();
}

void Connection::close_after_flush(std::string_view reason) {
    if (state_ != State::Open) return;
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
    fd_.reset();
    if (callbacks_.on_closed) callbacks_.on_closed(reason);
}

void Connection::update_interest() {
    if (state_ == State::Closed) return;
    bool want_write = !out_.empty();
    bool want_read = state_ == State::Open && out_.size() < limits_.output_high_water_bytes;
    Interest interest = want_read ? (want_write ? Interest::ReadWrite : Interest::Read)
                                  : (want_write ? Interest::Write : Interest::None);
    loop_.set_interest(watch_, interest);
}

void Connection::on_ready(Ready ready) {
    try {
        if (ready.writable || ready.hangup) handle_writable();
        if (state_ != State::Closed && (ready.readable || ready.hangup)) handle_readable();
    } catch (const std::exception& e) {
        log::error("bug: exception in handler for {}: {}", peer_name_, e.what());
        close_now("internal error");
    }
}

void Connection::handle_writable() {
    if (state_ == State::Closed) return;
    if (!out_.write_to(fd_.get())) {
        close_now(std::string("write: ") + std::strerror(errno));
        return;
    }
    if (out_.empty() && state_ == State::ClosingAfterFlush) {
        close_now(close_reason_);
        return;
    }
    update_interest();
}

void Connection::handle_readable() {
    if (state_ != State::Open) {
        // Discard what a closing peer still sends; we only wait for our output to drain.
        char sink[4096];
        while (::read(fd_.get(), sink, sizeof sink) > 0) {
        }
        return;
    }
    long n = in_.read_from(fd_.get(), kMaxReadPerEventBytes);
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

void Connection::process_input() {
    while (state_ == State::Open) {
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
}

}  // namespace gs::net
