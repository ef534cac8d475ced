// TrackerClient: the client's link to the tracker (docs/protocol.md §1). Connects to the first
// reachable tracker in tracker_info.txt without blocking, over TLS, and sends nothing before the
// tracker's certificate matches its pinned fingerprint (§1.4); matches replies to requests by
// seq, and when the link drops reconnects by itself, resumes the session with its token and
// resends what was not answered — so the user just carries on. A request is resent at most
// once: if the link drops again while it waits, it fails with one error instead of going round
// (a reply the client cannot take would otherwise be asked for forever). A tracker whose key
// does not match is never tried again by this process. Reactor thread only.
#pragma once

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
    };

    // Where the pinned fingerprints come from: a tracker_info.txt line's third field first,
    // else `known`, which learns a tracker's fingerprint the first time we connect to it.
    struct Pins {
        std::string tracker_info_path;  // for messages about a pin given there
        KnownTrackers known;
    };

    // Throws at start-up if OpenSSL cannot make a TLS context.
    TrackerClient(net::EventLoop& loop, std::vector<TrackerEntry> trackers, Pins pins,
                  Callbacks callbacks);
    ~TrackerClient();
    TrackerClient(const TrackerClient&) = delete;
    TrackerClient& operator=(const TrackerClient&) = delete;

    void set_callbacks(Callbacks callbacks) { callbacks_ = std::move(callbacks); }
    // Connections start from this local address (its port 0: any), so that the tracker, which
    // records the IP a client connects from (SECURITY.md), sees the IP we serve pieces on.
    void set_source_address(net::Endpoint from) { source_ = std::move(from); }
    void start();

    // Sends `request` (op and arguments; seq is added) and calls `done` once with the reply
    // fields, the tracker's error, or a connectivity error after `timeout`.
    void request(proto::Dict request, ReplyFn done,
                 std::chrono::seconds timeout = std::chrono::seconds(20));

    // The session to resume after a reconnect; `listen` is the address we serve pieces on.
    void set_session(std::string token, std::string listen);
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
        net::TimerId timer = 0;
        int sends = 0;           // how many times it went out (kMaxSends at most)
        bool in_flight = false;  // sent on the current connection, not answered yet
    };
    // A request goes out once, and once more after a reconnect; no more.
    static constexpr int kMaxSends = 2;

    void send_pending(Pending& p);
    // After a drop: requests that were in flight for the last time fail now.
    void fail_lost_requests(std::string_view reason);

    void connect_next();
    void on_connect_ready();
    void on_connect_failed(std::string_view why);
    // The next tracker after a failed attempt, or a pause and the first one again.
    void try_next_tracker();
    std::size_t first_usable_tracker() const;
    void on_connected(net::Fd fd);
    void on_secured(std::string_view fingerprint);
    void refuse_tracker(std::string message);
    void on_frame(std::string_view body);
    void on_closed(std::string_view reason);
    void schedule_reconnect();
    void send_resume();
    void become_ready();
    void finish(std::int64_t seq, Result<proto::Value> reply);

    net::EventLoop& loop_;
    std::vector<TrackerEntry> trackers_;
    Pins pins_;
    net::TlsContext tls_;
    std::vector<bool> refused_;  // per tracker: its key did not match
    std::string refusal_;        // the last refusal, for requests once all are refused
    Callbacks callbacks_;
    State state_ = State::Idle;
    std::size_t tracker_index_ = 0;
    net::Fd connecting_fd_;
    net::WatchId connect_watch_ = 0;
    net::TimerId connect_timer_ = 0;
    net::TimerId reconnect_timer_ = 0;
    std::chrono::milliseconds backoff_{100};
    std::unique_ptr<net::Connection> conn_;
    std::int64_t next_seq_ = 1;
    std::map<std::int64_t, Pending> pending_;
    std::int64_t resume_seq_ = 0;
    std::string token_;
    std::string listen_;
    std::string last_failure_;
    bool announced_down_ = false;
    std::optional<net::Endpoint> source_;
};

}  // namespace gs::peer
