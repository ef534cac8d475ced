#include "peer/tracker_client.hpp"

#include "shared/log.hpp"
#include "shared/net/socket.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace gs::peer {

namespace {
constexpr auto kConnectTimeout = std::chrono::seconds(3);
constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);
constexpr auto kResumeTimeout = std::chrono::seconds(10);
}  // namespace

namespace {
net::TlsContext make_client_context() {
    auto ctx = net::TlsContext::client();
    if (!ctx) throw std::runtime_error(ctx.error().message);
    return std::move(ctx).value();
}
}  // namespace

TrackerClient::TrackerClient(net::EventLoop& loop, std::vector<TrackerEntry> trackers, Pins pins,
                             Callbacks callbacks)
    : loop_(loop),
      trackers_(std::move(trackers)),
      pins_(std::move(pins)),
      tls_(make_client_context()),
      refused_(trackers_.size(), false),
      callbacks_(std::move(callbacks)) {}

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
    auto fd = net::connect_tcp(ep, source_ ? &*source_ : nullptr);
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
    try_next_tracker();
}

std::size_t TrackerClient::first_usable_tracker() const {
    std::size_t i = 0;
    while (i < trackers_.size() && refused_[i]) ++i;
    return i;
}

void TrackerClient::try_next_tracker() {
    std::size_t next = tracker_index_ + 1;
    while (next < trackers_.size() && refused_[next]) ++next;
    if (next < trackers_.size()) {
        tracker_index_ = next;
        connect_next();
        return;
    }
    if (!announced_down_) {
        log::warn("cannot reach any tracker (last: {}); retrying", last_failure_);
        announced_down_ = true;
    }
    tracker_index_ = first_usable_tracker();
    schedule_reconnect();
}

void TrackerClient::schedule_reconnect() {
    state_ = State::Idle;
    reconnect_timer_ = loop_.after(backoff_, [this] {
        reconnect_timer_ = 0;
        connect_next();
    });
    backoff_ =
        std::min(backoff_ * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
}

void TrackerClient::on_connected(net::Fd fd) {
    auto session = net::TlsSession::create(tls_, fd.get());
    if (!session) {
        on_connect_failed(session.error().message);
        return;
    }
    state_ = State::Securing;
    net::Connection::Callbacks cb;
    cb.on_frame = [this](std::string_view body) { on_frame(body); };
    cb.on_closed = [this](std::string_view reason) { on_closed(reason); };
    cb.on_secured = [this](std::string_view fingerprint) { on_secured(fingerprint); };
    conn_ =
        std::make_unique<net::Connection>(loop_, std::move(fd), current_tracker(), std::move(cb),
                                          net::ConnectionLimits{}, std::move(session).value());
}

// Nothing has been sent yet: neither the token nor any request reaches a tracker whose key is
// not the pinned one (docs/protocol.md §1.4).
void TrackerClient::on_secured(std::string_view fingerprint) {
    const TrackerEntry& entry = trackers_[tracker_index_];
    const std::string address = entry.endpoint.to_string();
    if (!entry.fingerprint.empty()) {
        if (fingerprint != entry.fingerprint) {
            refuse_tracker(fmt::format(
                "tracker {} presented a different key ({}) than the one pinned in {} line {} "
                "({}); if the tracker was reinstalled on purpose, put its new fingerprint on "
                "that line; otherwise someone may be intercepting the connection",
                address, fingerprint, pins_.tracker_info_path, entry.line_number,
                entry.fingerprint));
            return;
        }
    } else if (const auto* pin = pins_.known.find(address)) {
        if (fingerprint != pin->fingerprint) {
            refuse_tracker(fmt::format(
                "tracker {} presented a different key ({}) than the one pinned in {} ({}); if "
                "the tracker was reinstalled on purpose, delete line {} of that file and start "
                "the client again; otherwise someone may be intercepting the connection",
                address, fingerprint, pins_.known.path(), pin->fingerprint, pin->line_number));
            return;
        }
    } else if (auto added = pins_.known.add(address, std::string(fingerprint)); added) {
        log::info("pinned tracker {} key {} in {}", address, fingerprint, pins_.known.path());
    } else {
        log::warn("cannot pin tracker {} key {}: {}", address, fingerprint, added.error().message);
    }

    backoff_ = std::chrono::milliseconds(100);
    if (announced_down_) log::info("connected to tracker {}", current_tracker());
    announced_down_ = false;
    if (!token_.empty()) {
        send_resume();
    } else {
        become_ready();
    }
}

void TrackerClient::refuse_tracker(std::string message) {
    log::error("{}", message);
    refused_[tracker_index_] = true;
    refusal_ = message;
    last_failure_ = fmt::format("{}: key mismatch", current_tracker());
    // Dropped on purpose: on_closed must not take it for a lost link.
    auto dead = std::shared_ptr<net::Connection>(std::move(conn_));
    dead->close_now("tracker key does not match its pin");
    loop_.defer([dead] {});

    if (first_usable_tracker() < trackers_.size()) {
        if (callbacks_.on_refused) callbacks_.on_refused(message, false);
        try_next_tracker();
        return;
    }
    // No tracker left: waiting requests fail now rather than at their timeout; later ones at once.
    state_ = State::Refused;
    if (callbacks_.on_refused) callbacks_.on_refused(message, true);
    std::vector<std::int64_t> waiting;
    for (const auto& [seq, p] : pending_) waiting.push_back(seq);
    for (std::int64_t seq : waiting) finish(seq, make_error(Errc::Io, message));
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

void TrackerClient::send_pending(Pending& p) {
    ++p.sends;
    p.in_flight = true;
    conn_->send_frame(p.body);
}

void TrackerClient::become_ready() {
    state_ = State::Ready;
    for (auto& [seq, p] : pending_) {
        if (seq != resume_seq_ && p.sends < kMaxSends) send_pending(p);
    }
    if (callbacks_.on_ready) callbacks_.on_ready();
}

void TrackerClient::fail_lost_requests(std::string_view reason) {
    std::vector<std::int64_t> lost;
    for (auto& [seq, p] : pending_) {
        if (p.in_flight && p.sends >= kMaxSends) lost.push_back(seq);
        p.in_flight = false;
    }
    for (std::int64_t seq : lost) {
        const std::string op = pending_[seq].op;
        finish(seq, make_error(Errc::Io, fmt::format("the connection to the tracker {} dropped "
                                                     "twice while it answered {} (last: {}); "
                                                     "not sent again: try later, or tell the "
                                                     "tracker's operator",
                                                     current_tracker(), op, reason)));
    }
}

void TrackerClient::request(proto::Dict request, ReplyFn done, std::chrono::seconds timeout) {
    std::int64_t seq = next_seq_++;
    request["seq"] = seq;
    Pending p;
    if (auto it = request.find("op"); it != request.end() && it->second.is_string()) {
        p.op = std::string(it->second.as_string());
    }
    p.body = proto::encode(proto::Value(std::move(request)));
    p.done = std::move(done);
    if (state_ == State::Refused) {
        // Answered from the loop, like any reply, never from inside this call.
        p.timer = loop_.after(std::chrono::seconds(0),
                              [this, seq] { finish(seq, make_error(Errc::Io, refusal_)); });
        pending_.emplace(seq, std::move(p));
        return;
    }
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
    if (state_ == State::Ready && conn_) send_pending(p);
    pending_.emplace(seq, std::move(p));
}

void TrackerClient::set_session(std::string token, std::string listen) {
    token_ = std::move(token);
    listen_ = std::move(listen);
}

void TrackerClient::clear_session() {
    token_.clear();
}

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
    if (!conn_) return;  // dropped on purpose (refuse_tracker)
    if (state_ == State::Securing) {
        // Destroy the connection after this batch; its callbacks must not run again.
        loop_.defer([dead = std::shared_ptr<net::Connection>(std::move(conn_))] {});
        on_connect_failed(reason);
        return;
    }
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
    loop_.defer([dead = std::shared_ptr<net::Connection>(std::move(conn_))] {});
    fail_lost_requests(reason);
    tracker_index_ = first_usable_tracker();
    schedule_reconnect();
}

}  // namespace gs::peer
