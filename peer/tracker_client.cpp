#include "peer/tracker_client.hpp"

#include "shared/log.hpp"
#include "shared/net/socket.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace gs::peer {

namespace {
constexpr auto kConnectTimeout = std::chrono::seconds(3);
}  // namespace

namespace {
net::TlsContext make_client_context() {
    auto ctx = net::TlsContext::client();
    if (!ctx) throw std::runtime_error(ctx.error().message);
    return std::move(ctx).value();
}
}  // namespace

TrackerClient::TrackerClient(net::EventLoop& loop, std::vector<TrackerEntry> trackers, Pins pins,
                             Callbacks callbacks, std::optional<std::uint64_t> shuffle_seed)
    : loop_(loop),
      trackers_(std::move(trackers)),
      pins_(std::move(pins)),
      tls_(make_client_context()),
      tier_(trackers_.size(), shuffle_seed),
      callbacks_(std::move(callbacks)) {}

TrackerClient::~TrackerClient() {
    if (connect_watch_ != 0) loop_.unwatch(connect_watch_);
    loop_.cancel(connect_timer_);
    loop_.cancel(reconnect_timer_);
    loop_.cancel(stall_timer_);
    for (auto& [seq, p] : pending_) {
        loop_.cancel(p.timer);
        loop_.cancel(p.link_timer);
    }
}

std::string TrackerClient::current_tracker() const {
    return trackers_[tier_.current()].endpoint.to_string();
}

void TrackerClient::start() {
    connect_next();
}

void TrackerClient::connect_next() {
    state_ = State::Connecting;
    const auto& ep = trackers_[tier_.current()].endpoint;
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
    last_failure_ = fmt::format("{}: {}", current_tracker(), why);
    // on_failure names a tracker while one is usable, and this one was.
    move_on(*tier_.on_failure());
}

void TrackerClient::move_on(const TrackerTier::Next& next) {
    if (next.round_failed && !announced_down_) {
        log::warn("cannot reach any tracker (last: {}); retrying", last_failure_);
        announced_down_ = true;
    }
    if (next.delay.count() == 0) {
        connect_next();
    } else {
        schedule_reconnect(waits_for_link() ? std::min(next.delay, kPauseWhileWaiting)
                                            : next.delay);
    }
}

bool TrackerClient::waits_for_link() const {
    for (const auto& [seq, p] : pending_) {
        if (p.link_timer != 0) return true;
    }
    return false;
}

void TrackerClient::schedule_reconnect(std::chrono::milliseconds delay) {
    state_ = State::Idle;
    reconnect_timer_ = loop_.after(delay, [this] {
        reconnect_timer_ = 0;
        connect_next();
    });
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
    const TrackerEntry& entry = trackers_[tier_.current()];
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
    refusal_ = message;
    last_failure_ = fmt::format("{}: key mismatch", current_tracker());
    // Dropped on purpose: on_closed must not take it for a lost link.
    auto dead = std::shared_ptr<net::Connection>(std::move(conn_));
    dead->close_now("tracker key does not match its pin");
    loop_.defer([dead] {});

    if (auto next = tier_.leave_out()) {
        if (callbacks_.on_refused) callbacks_.on_refused(message, false);
        move_on(*next);
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
    if (!peer_key_.empty()) req["peer_key"] = peer_key_;
    Pending p;
    p.body = proto::encode(proto::Value(std::move(req)));
    p.done = [this](Result<proto::Value> reply) {
        resume_seq_ = 0;
        if (!reply) {
            const Errc code = reply.error().code;
            if (code == Errc::Io) return;  // link dropped again; we move on
            if (code == Errc::Throttled || code == Errc::Internal) {
                // The tracker is in trouble, not the session: another one may take it.
                log::warn("tracker {} could not resume the session: {}", current_tracker(),
                          reply.error().message);
                if (conn_) conn_->close_now("could not resume the session");
                return;
            }
            log::warn("session could not be resumed: {}", reply.error().message);
            token_.clear();
            if (callbacks_.on_session_lost) callbacks_.on_session_lost();
        }
        become_ready();
    };
    conn_->send_frame(p.body);
    pending_.emplace(resume_seq_, std::move(p));
    watch_answers();
}

void TrackerClient::send_pending(Pending& p) {
    loop_.cancel(p.link_timer);
    p.link_timer = 0;
    ++p.sends;
    p.in_flight = true;
    conn_->send_frame(p.body);
}

void TrackerClient::wait_for_link(std::int64_t seq, Pending& p) {
    if (p.link_timer != 0) return;
    p.link_timer = loop_.after(kLinkWait, [this, seq] {
        auto it = pending_.find(seq);
        if (it == pending_.end()) return;
        it->second.link_timer = 0;
        // A request that went out before the link dropped may have been carried out.
        const bool maybe_done = it->second.sends > 0;
        finish(seq,
               make_error(Errc::Io,
                          fmt::format("cannot reach any tracker for {} s (last: {}); try again "
                                      "later{}",
                                      kLinkWait.count(), last_failure_,
                                      maybe_done ? " (the tracker may have done it before "
                                                   "the link dropped)"
                                                 : "")));
    });
}

bool TrackerClient::awaits_answer() const {
    if (resume_seq_ != 0) return true;
    // With one tracker there is nowhere else to go: a slow answer is waited for.
    if (trackers_.size() < 2) return false;
    for (const auto& [seq, p] : pending_) {
        if (p.in_flight) return true;
    }
    return false;
}

void TrackerClient::watch_answers() {
    loop_.cancel(stall_timer_);
    stall_timer_ = 0;
    if (!conn_ || !awaits_answer()) return;
    stall_timer_ = loop_.after(kStallTimeout, [this] {
        stall_timer_ = 0;
        if (conn_) {
            conn_->close_now(fmt::format("no answer for {} s", kStallTimeout.count()));
        }
    });
}

void TrackerClient::become_ready() {
    state_ = State::Ready;
    tier_.on_success();
    const std::string now_using = current_tracker();
    if (now_using != last_ready_) {
        log::info("using tracker {}", now_using);
        if (!last_ready_.empty() && callbacks_.on_switched) {
            callbacks_.on_switched(last_ready_, now_using);
        }
        last_ready_ = now_using;
    }
    for (auto& [seq, p] : pending_) {
        if (seq != resume_seq_ && p.sends < kMaxSends) send_pending(p);
    }
    watch_answers();
    if (callbacks_.on_ready) callbacks_.on_ready();
}

void TrackerClient::fail_lost_requests(std::string_view reason) {
    std::vector<std::int64_t> lost;
    for (auto& [seq, p] : pending_) {
        if (p.in_flight && p.sends >= kMaxSends) lost.push_back(seq);
        p.in_flight = false;
    }
    for (auto& [seq, p] : pending_) wait_for_link(seq, p);
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
    const bool send_now = state_ == State::Ready && conn_;
    auto& waiting = pending_.emplace(seq, std::move(p)).first->second;
    if (send_now) {
        send_pending(waiting);
        if (stall_timer_ == 0) watch_answers();
        return;
    }
    wait_for_link(seq, waiting);
    if (state_ == State::Idle && reconnect_timer_ != 0) {
        // Someone is waiting: the next round starts now rather than after the pause.
        loop_.cancel(reconnect_timer_);
        reconnect_timer_ = 0;
        connect_next();
    }
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
    loop_.cancel(p.link_timer);
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
    // Any answer shows the tracker is alive; what still waits gets a fresh kStallTimeout.
    if (stall_timer_ != 0) {
        loop_.cancel(stall_timer_);
        stall_timer_ = 0;
    }
    if (msg->get_int("ok").value_or(0) == 1) {
        finish(*seq, std::move(msg).value());
    } else {
        auto code = errc_from_name(msg->get_string("code").value_or("internal"));
        std::string text(msg->get_string("error").value_or("the tracker refused the request"));
        if (*seq == 0) {
            // The last frame of a link the tracker closes. Closed because it was idle, the
            // link is not lost: reconnect to the same tracker (on_closed).
            closed_for_idleness_ = msg->get_string("closing").value_or("") == "idle";
            if (closed_for_idleness_) {
                log::info("tracker closed the link: {}", text);
            } else {
                log::warn("tracker closed the link: {}", text);
            }
        } else {
            finish(*seq, make_error(code, std::move(text)));
        }
    }
    watch_answers();
}

void TrackerClient::on_closed(std::string_view reason) {
    if (!conn_) return;  // dropped on purpose (refuse_tracker)
    if (state_ == State::Securing) {
        // Destroy the connection after this batch; its callbacks must not run again.
        loop_.defer([dead = std::shared_ptr<net::Connection>(std::move(conn_))] {});
        on_connect_failed(reason);
        return;
    }
    const bool idle = std::exchange(closed_for_idleness_, false);
    if (idle) {
        log::info("tracker {} closed the idle link; reconnecting to it", current_tracker());
    } else {
        log::warn("lost connection to tracker {} ({}); reconnecting", current_tracker(), reason);
        last_failure_ = fmt::format("{}: {}", current_tracker(), reason);
    }
    loop_.cancel(stall_timer_);
    stall_timer_ = 0;
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
    if (idle) {
        // Nothing failed: the same tracker again at once, and no fail-over (if it cannot be
        // reached now, on_connect_failed moves on as after any failure).
        connect_next();
        return;
    }
    // The next tracker of the tier at once; this one again only after the others.
    move_on(*tier_.on_failure());
}

}  // namespace gs::peer
