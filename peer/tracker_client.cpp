#include "peer/tracker_client.hpp"

#include "shared/log.hpp"
#include "shared/net/socket.hpp"

#include <fmt/format.h>

#include <cstring>

namespace gs::peer {

namespace {
constexpr auto kConnectTimeout = std::chrono::seconds(3);
constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);
constexpr auto kResumeTimeout = std::chrono::seconds(10);
}  // namespace

TrackerClient::TrackerClient(net::EventLoop& loop, std::vector<TrackerEntry> trackers,
                             Callbacks callbacks)
    : loop_(loop), trackers_(std::move(trackers)), callbacks_(std::move(callbacks)) {}

TrackerClient::~TrackerClient() {
    if (connect_watch_ != 0) loop_.unwatch(connect_watch_);
    loop_.cancel(connect_timer_);
    loop_.cancel(reconnect_timer_);
    for (auto& [seq, p] : pending_) loop_.cancel(p.timer);
}

std::string TrackerClient::current_tracker() const {
    return trackers_[tracker_index_ % trackers_.size()].endpoint.to_string();
}

void TrackerClient::start() {
    tracker_index_ = 0;
    connect_next();
}

void TrackerClient::connect_next() {
    state_ = State::Connecting;
    const auto& ep = trackers_[tracker_index_].endpoint;
    auto fd = net::connect_tcp(ep);
    if (!fd) {
        on_connect_failed(fd.error().message);
        return;
    }
    connecting_fd_ = std::move(fd).value();
    connect_watch_ = loop_.watch(connecting_fd_.get(), net::Interest::Write,
                                 [this](net::Ready) { on_connect_ready(); });
    connect_timer_ = loop_.after(kConnectTimeout, [this] {
        connect_timer_ = 0;
        on_connect_failed("connect timed out");
    });
}

void TrackerClient::on_connect_ready() {
    int err = net::connect_error(connecting_fd_.get());
    if (err != 0) {
        on_connect_failed(std::strerror(err));
        return;
    }
    loop_.unwatch(connect_watch_);
    connect_watch_ = 0;
    loop_.cancel(connect_timer_);
    connect_timer_ = 0;
    on_connected(std::move(connecting_fd_));
}

void TrackerClient::on_connect_failed(std::string_view why) {
    if (connect_watch_ != 0) loop_.unwatch(connect_watch_);
    connect_watch_ = 0;
    loop_.cancel(connect_timer_);
    connect_timer_ = 0;
    connecting_fd_.reset();
    last_failure_ = fmt::format("{}: {}", trackers_[tracker_index_].endpoint.to_string(), why);
    if (tracker_index_ + 1 < trackers_.size()) {
        ++tracker_index_;
        connect_next();
        return;
    }
    if (!announced_down_) {
        log::warn("cannot reach any tracker (last: {}); retrying", last_failure_);
        announced_down_ = true;
    }
    tracker_index_ = 0;
    schedule_reconnect();
}

void TrackerClient::schedule_reconnect() {
    state_ = State::Idle;
    reconnect_timer_ = loop_.after(backoff_, [this] {
        reconnect_timer_ = 0;
        connect_next();
    });
    backoff_ = std::min(backoff_ * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
}

void TrackerClient::on_connected(net::Fd fd) {
    backoff_ = std::chrono::milliseconds(100);
    if (announced_down_) log::info("connected to tracker {}", current_tracker());
    announced_down_ = false;
    net::Connection::Callbacks cb;
    cb.on_frame = [this](std::string_view body) { on_frame(body); };
    cb.on_closed = [this](std::string_view reason) { on_closed(reason); };
    conn_ = std::make_unique<net::Connection>(loop_, std::move(fd), current_tracker(),
                                              std::move(cb));
    if (!token_.empty()) {
        send_resume();
    } else {
        become_ready();
    }
}

void TrackerClient::send_resume() {
    state_ = State::Resuming;
    resume_seq_ = next_seq_++;
    proto::Dict req{{"op", "resume"}, {"seq", resume_seq_}, {"token", token_}, {"listen", listen_}};
    Pending p;
    p.body = proto::encode(proto::Value(std::move(req)));
    p.done = [this](Result<proto::Value> reply) {
        resume_seq_ = 0;
        if (!reply) {
            if (reply.error().code == Errc::Io) return;  // link dropped again; we retry
            log::warn("session could not be resumed: {}", reply.error().message);
            token_.clear();
            if (callbacks_.on_session_lost) callbacks_.on_session_lost();
        }
        become_ready();
    };
    p.timer = loop_.after(kResumeTimeout, [this, seq = resume_seq_] {
        pending_[seq].timer = 0;
        if (conn_) conn_->close_now("resume timed out");
    });
    conn_->send_frame(p.body);
    pending_.emplace(resume_seq_, std::move(p));
}

void TrackerClient::become_ready() {
    state_ = State::Ready;
    for (auto& [seq, p] : pending_) conn_->send_frame(p.body);
    if (callbacks_.on_ready) callbacks_.on_ready();
}

void TrackerClient::request(proto::Dict request, ReplyFn done, std::chrono::seconds timeout) {
    std::int64_t seq = next_seq_++;
    request["seq"] = seq;
    Pending p;
    p.body = proto::encode(proto::Value(std::move(request)));
    p.done = std::move(done);
    p.timer = loop_.after(timeout, [this, seq] {
        auto it = pending_.find(seq);
        if (it == pending_.end()) return;
        it->second.timer = 0;
        std::string where = last_failure_.empty() ? current_tracker() : last_failure_;
        finish(seq, make_error(Errc::Io, state_ == State::Ready
                                             ? fmt::format("the tracker {} did not answer in time",
                                                           current_tracker())
                                             : fmt::format("cannot reach the tracker ({}); is it "
                                                           "running?",
                                                           where)));
    });
    if (state_ == State::Ready && conn_) conn_->send_frame(p.body);
    pending_.emplace(seq, std::move(p));
}

void TrackerClient::set_session(std::string token, std::string listen) {
    token_ = std::move(token);
    listen_ = std::move(listen);
}

void TrackerClient::clear_session() { token_.clear(); }

void TrackerClient::finish(std::int64_t seq, Result<proto::Value> reply) {
    auto it = pending_.find(seq);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    loop_.cancel(p.timer);
    if (p.done) p.done(std::move(reply));
}

void TrackerClient::on_frame(std::string_view body) {
    auto msg = proto::decode(body);
    if (!msg || !msg->is_dict()) {
        log::warn("tracker sent an unreadable reply; reconnecting");
        conn_->close_now("bad reply");
        return;
    }
    auto seq = msg->get_int("seq");
    if (!seq) return;
    if (msg->get_int("ok").value_or(0) == 1) {
        finish(*seq, std::move(msg).value());
        return;
    }
    auto code = errc_from_name(msg->get_string("code").value_or("internal"));
    std::string text(msg->get_string("error").value_or("the tracker refused the request"));
    if (*seq == 0) {
        log::warn("tracker closed the link: {}", text);
        return;
    }
    finish(*seq, make_error(code, std::move(text)));
}

void TrackerClient::on_closed(std::string_view reason) {
    log::warn("lost connection to tracker {} ({}); reconnecting", current_tracker(), reason);
    last_failure_ = fmt::format("{}: {}", current_tracker(), reason);
    if (resume_seq_ != 0) {
        auto it = pending_.find(resume_seq_);
        if (it != pending_.end()) {
            loop_.cancel(it->second.timer);
            pending_.erase(it);
        }
        resume_seq_ = 0;
    }
    // Destroy the connection after this batch; its callbacks must not run again.
    loop_.defer([this, dead = std::shared_ptr<net::Connection>(std::move(conn_))] {});
    tracker_index_ = 0;
    schedule_reconnect();
}

}  // namespace gs::peer
