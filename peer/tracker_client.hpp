// TrackerClient: the client's link to the trackers of tracker_info.txt (docs/protocol.md §1). The
// lines are one tier (TrackerTier): shuffled once, the client keeps to a tracker that works and
// moves to the next when it fails (refused, TLS failure, link dropped, no answer). It connects
// without blocking, over TLS, and sends nothing before the tracker's certificate matches the pin
// of its line (§1.4); matches replies to requests by seq, and when the link drops moves on,
// resumes the session there with its token and resends what was not answered, so the user just
// carries on. A request waits for a link at most kLinkWait, and is resent at most once: if the
// link drops again while it waits, it fails with one error instead of going round (a reply the
// client cannot take would otherwise be asked for forever). A tracker whose key does not match
// is never tried again by this process. A link the tracker closes because it was idle (it says so
// in a last frame, §1.2) is no failure: the client reconnects to the same tracker, quietly.
// Reactor thread only.
#pragma once

#include "peer/tracker_tier.hpp"
#include "shared/config.hpp"
#include "shared/net/connection.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/tls.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/result.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gs::peer {

class TrackerClient {
public:
    using ReplyFn = std::function<void(Result<proto::Value> reply)>;

    struct Callbacks {
        // The session token was refused on reconnect (expired, or the user was removed).
        std::function<void()> on_session_lost;
        // Connected (and session resumed, if there was one): a good time to re-announce.
        std::function<void()> on_ready;
        // A tracker presented a key other than its pinned one (`message`: one line, no
        // "error: "). `requests_fail`: no tracker is left to try, so every waiting and later
        // request fails with this message too.
        std::function<void(std::string_view message, bool requests_fail)> on_refused;
        // The link to tracker `from` was lost and the session now goes through `to` (both
        // "IP:PORT"). Not called when the client comes back to the tracker it had.
        std::function<void(std::string_view from, std::string_view to)> on_switched;
    };

    // How long a request waits for a link (docs/protocol.md §1.2): made while none is up, or
    // lost with the link it went out on, it fails once this has passed without one.
    static constexpr std::chrono::seconds kLinkWait{5};
    // While a request waits for a link, the pause between rounds is at most this long, so that a
    // tracker back within kLinkWait is found in time.
    static constexpr std::chrono::milliseconds kPauseWhileWaiting{500};
    // With several trackers, one that answers nothing for this long while a request waits on
    // it is taken for failed and left for the next; a resume is given as long everywhere.
    static constexpr std::chrono::seconds kStallTimeout{10};

    // Where the pinned fingerprints come from: a tracker_info.txt line's third field first,
    // else `known`, which learns a tracker's fingerprint the first time we connect to it.
    struct Pins {
        std::string tracker_info_path;  // for messages about a pin given there
        KnownTrackers known;
    };

    // Throws at start-up if OpenSSL cannot make a TLS context. `shuffle_seed` seeds the order in
    // which the trackers are tried (TrackerTier); without one they are tried in file order.
    TrackerClient(net::EventLoop& loop, std::vector<TrackerEntry> trackers, Pins pins,
                  Callbacks callbacks, std::optional<std::uint64_t> shuffle_seed);
    ~TrackerClient();
    TrackerClient(const TrackerClient&) = delete;
    TrackerClient& operator=(const TrackerClient&) = delete;

    void set_callbacks(Callbacks callbacks) { callbacks_ = std::move(callbacks); }
    // Connections start from this local address (its port 0: any), so that the tracker, which
    // records the IP a client connects from (SECURITY.md), sees the IP we serve pieces on.
    void set_source_address(net::Endpoint from) { source_ = std::move(from); }
    void start();

    // Sends `request` (op and arguments; seq is added) and calls `done` once with the reply
    // fields, the tracker's error, or a connectivity error: no link within kLinkWait, or no
    // answer within `timeout`. Made during a back-off pause, it starts the next round at once.
    void request(proto::Dict request, ReplyFn done,
                 std::chrono::seconds timeout = std::chrono::seconds(20));

    // The session to resume after a reconnect; `listen` is the address we serve pieces on.
    void set_session(std::string token, std::string listen);
    // Our sealed peer channel's public key (64 hex), sent with login and resume: the tracker
    // gives it to downloaders with our address and names it in our tickets.
    void set_peer_key(std::string hex) { peer_key_ = std::move(hex); }
    const std::string& peer_key() const { return peer_key_; }
    void clear_session();
    bool has_session() const { return !token_.empty(); }
    bool is_ready() const { return state_ == State::Ready; }
    std::string current_tracker() const;

private:
    // Securing: TCP is up, TLS handshake and fingerprint check under way. Refused: every
    // tracker presented a wrong key; nothing more is tried.
    enum class State { Idle, Connecting, Securing, Resuming, Ready, Refused };

    struct Pending {
        std::string body;  // bencoded request, with seq
        std::string op;    // for the error if the link drops while it waits
        ReplyFn done;
        net::TimerId timer = 0;       // the request's own deadline
        net::TimerId link_timer = 0;  // while it waits for a link: kLinkWait
        int sends = 0;                // how many times it went out (kMaxSends at most)
        bool in_flight = false;       // sent on the current connection, not answered yet
    };
    // A request goes out once, and once more after a reconnect; no more.
    static constexpr int kMaxSends = 2;

    void send_pending(Pending& p);
    // Starts `p`'s kLinkWait, unless it is already waiting.
    void wait_for_link(std::int64_t seq, Pending& p);
    // Watches the link while something sent on it waits for its answer (kStallTimeout).
    void watch_answers();
    bool awaits_answer() const;
    bool waits_for_link() const;
    // After a drop: requests that were in flight for the last time fail now.
    void fail_lost_requests(std::string_view reason);

    void connect_next();
    void on_connect_ready();
    void on_connect_failed(std::string_view why);
    // Goes on with the tracker the tier names: at once within a round, after a pause once a
    // whole round has failed.
    void move_on(const TrackerTier::Next& next);
    void on_connected(net::Fd fd);
    void on_secured(std::string_view fingerprint);
    void refuse_tracker(std::string message);
    void on_frame(std::string_view body);
    void on_closed(std::string_view reason);
    void schedule_reconnect(std::chrono::milliseconds delay);
    void send_resume();
    void become_ready();
    void finish(std::int64_t seq, Result<proto::Value> reply);

    net::EventLoop& loop_;
    std::vector<TrackerEntry> trackers_;
    Pins pins_;
    net::TlsContext tls_;
    TrackerTier tier_;
    std::string refusal_;  // the last refusal, for requests once all are refused
    Callbacks callbacks_;
    State state_ = State::Idle;
    net::Fd connecting_fd_;
    net::WatchId connect_watch_ = 0;
    net::TimerId connect_timer_ = 0;
    net::TimerId reconnect_timer_ = 0;
    net::TimerId stall_timer_ = 0;
    std::unique_ptr<net::Connection> conn_;
    std::int64_t next_seq_ = 1;
    std::map<std::int64_t, Pending> pending_;
    std::int64_t resume_seq_ = 0;
    std::string token_;
    std::string listen_;
    std::string peer_key_;
    std::string last_failure_;
    std::string last_ready_;  // the tracker the link was last ready on ("" before the first)
    bool announced_down_ = false;
    // The tracker said it closes the link because it was idle (§1.2): nothing failed, so the
    // client reconnects to the same tracker, without a fail-over.
    bool closed_for_idleness_ = false;
    std::optional<net::Endpoint> source_;
};

}  // namespace gs::peer
