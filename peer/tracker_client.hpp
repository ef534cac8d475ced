// TrackerClient: the client's link to the tracker (docs/protocol.md §1). Connects to the first
// reachable tracker in tracker_info.txt without blocking, matches replies to requests by seq,
// and when the link drops reconnects by itself, resumes the session with its token and resends
// what was not answered — so the user just carries on. Reactor thread only.
#pragma once

#include "shared/config.hpp"
#include "shared/net/connection.hpp"
#include "shared/net/event_loop.hpp"
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
    };

    TrackerClient(net::EventLoop& loop, std::vector<TrackerEntry> trackers, Callbacks callbacks);
    ~TrackerClient();
    TrackerClient(const TrackerClient&) = delete;
    TrackerClient& operator=(const TrackerClient&) = delete;

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
    enum class State { Idle, Connecting, Resuming, Ready };

    struct Pending {
        std::string body;  // bencoded request, with seq
        ReplyFn done;
        net::TimerId timer = 0;
    };

    void connect_next();
    void on_connect_ready();
    void on_connect_failed(std::string_view why);
    void on_connected(net::Fd fd);
    void on_frame(std::string_view body);
    void on_closed(std::string_view reason);
    void schedule_reconnect();
    void send_resume();
    void become_ready();
    void finish(std::int64_t seq, Result<proto::Value> reply);

    net::EventLoop& loop_;
    std::vector<TrackerEntry> trackers_;
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
};

}  // namespace gs::peer
