// The control channel of a running client (README "Remote control"): `client ctl --data-dir DIR
// COMMAND [ARG...]` runs one prompt command in the client that holds DIR, through the Unix
// socket `control.sock` there.
//
// Protocol, one request per connection: the controller sends the command as one line (at most
// kMaxControlLine bytes, newline-terminated); the client answers with one `o <text>` line per
// line the command printed, then `s 0` (success) or `s 1` (the command failed), and closes.
//
// ControlServer owns the listening socket (mode 0600, and only connections from this user's
// uid are served) and its connections; it removes the socket file when it goes. It only moves
// lines: its owner runs each request's command and answers with output() and finish(). At most
// `max_connections` are open at once (more are told so and closed); a connection must send its
// line within `line_timeout`. Reactor thread only.
#pragma once

#include "shared/net/clock.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "shared/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gs::peer {

inline constexpr std::size_t kMaxControlLine = 64 * 1024;
inline constexpr const char* kControlSocketName = "control.sock";

struct ControlLimits {
    std::size_t max_line_bytes = kMaxControlLine;
    std::size_t max_connections = 8;
    net::Clock::duration line_timeout = std::chrono::seconds(10);
};

class ControlServer {
public:
    using RequestId = std::uint64_t;
    // A request's command line; answer it with output() and finish().
    using OnRequest = std::function<void(RequestId id, std::string line)>;

    using Limits = ControlLimits;

    // Listens on `data_dir`/control.sock (a stale file there is replaced: the caller holds the
    // data directory's lock).
    static Result<std::unique_ptr<ControlServer>> open(net::EventLoop& loop,
                                                       const std::filesystem::path& data_dir,
                                                       OnRequest on_request, Limits limits = {});
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // One line of the request's output. Ignored once the controller has gone.
    void output(RequestId id, std::string_view line);
    // Ends the request with its status; `then` runs once the answer is written (or could not
    // be: the controller went away).
    void finish(RequestId id, bool failed, std::function<void()> then = {});

private:
    struct Connection;

    ControlServer(net::EventLoop& loop, net::Fd listener, std::string path, OnRequest on_request,
                  Limits limits);
    void on_accept();
    void on_ready(RequestId id);
    void read_line(RequestId id, Connection& c);
    // Writes what it can of the answer; closes the connection once its status is written.
    void flush(RequestId id, Connection& c);
    // Sends a one-line error and the failed status, then closes.
    void refuse(RequestId id, Connection& c, std::string_view message);
    void close(RequestId id);

    net::EventLoop& loop_;
    net::Fd listener_;
    std::string path_;
    OnRequest on_request_;
    Limits limits_;
    net::WatchId listen_watch_ = 0;
    RequestId next_id_ = 1;
    std::map<RequestId, std::unique_ptr<Connection>> connections_;
};

// `client ctl --data-dir DIR COMMAND [ARG...]`: sends the command (its words joined with
// spaces, a word quoted when it holds a space or a quote) to the client running in DIR, prints
// its output on stdout and returns the exit status: 0 success, 1 the command failed, 2 no
// client runs there. Blocking; not for the reactor.
int run_control_command(const std::filesystem::path& data_dir,
                        const std::vector<std::string>& words);

}  // namespace gs::peer
