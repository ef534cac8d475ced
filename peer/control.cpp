#include "peer/control.hpp"

#include "shared/log.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

namespace gs::peer {

namespace {

// The socket's address. A path too long for sun_path (108 bytes) is reached through an open
// descriptor of its directory (/proc/self/fd/N/control.sock), which `dir_fd` then holds.
Result<sockaddr_un> socket_address(const std::filesystem::path& data_dir, net::Fd& dir_fd) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = (data_dir / kControlSocketName).string();
    if (path.size() >= sizeof addr.sun_path) {
        dir_fd.reset(::open(data_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!dir_fd.valid()) {
            return make_error(Errc::Io, fmt::format("cannot open {}: {}", data_dir.string(),
                                                    std::strerror(errno)));
        }
        path = fmt::format("/proc/self/fd/{}/{}", dir_fd.get(), kControlSocketName);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// ' quoted the POSIX way when `word` holds anything a prompt would split or unquote.
std::string quote_word(const std::string& word) {
    if (!word.empty() && word.find_first_of(" \t'\"\\") == std::string::npos) return word;
    std::string out = "'";
    for (char ch : word) {
        if (ch == '\'') {
            out += "'\\''";
        } else {
            out += ch;
        }
    }
    return out + "'";
}

}  // namespace

struct ControlServer::Connection {
    net::Fd fd;
    net::WatchId watch = 0;  // 0 once the controller has gone
    net::TimerId timer = 0;
    std::string in;
    std::string out;
    bool asked = false;     // the line was handed to the owner
    bool finished = false;  // the status is in `out`: close once it is written
    std::function<void()> then;
};

Result<std::unique_ptr<ControlServer>> ControlServer::open(net::EventLoop& loop,
                                                           const std::filesystem::path& data_dir,
                                                           OnRequest on_request, Limits limits) {
    net::Fd dir_fd;
    auto addr = socket_address(data_dir, dir_fd);
    if (!addr) return addr.error();
    const std::string path = (data_dir / kControlSocketName).string();
    net::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        return make_error(Errc::Io, fmt::format("control socket: {}", std::strerror(errno)));
    }
    ::unlink(addr->sun_path);  // a socket left by a client that was killed
    // Owner-only from the start: no moment in which another user could connect.
    const mode_t old_mask = ::umask(0077);
    const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
    const int bind_errno = errno;
    ::umask(old_mask);
    if (bound != 0) {
        return make_error(Errc::Io, fmt::format("cannot bind the control socket {}: {}", path,
                                                std::strerror(bind_errno)));
    }
    if (::chmod(addr->sun_path, 0600) != 0 || ::listen(fd.get(), 16) != 0) {
        const int e = errno;
        ::unlink(addr->sun_path);
        return make_error(Errc::Io, fmt::format("control socket {}: {}", path, std::strerror(e)));
    }
    return std::unique_ptr<ControlServer>(
        new ControlServer(loop, std::move(fd), path, std::move(on_request), limits));
}

ControlServer::ControlServer(net::EventLoop& loop, net::Fd listener, std::string path,
                             OnRequest on_request, Limits limits)
    : loop_(loop),
      listener_(std::move(listener)),
      path_(std::move(path)),
      on_request_(std::move(on_request)),
      limits_(limits) {
    listen_watch_ =
        loop_.watch(listener_.get(), net::Interest::Read, [this](net::Ready) { on_accept(); });
}

ControlServer::~ControlServer() {
    loop_.unwatch(listen_watch_);
    while (!connections_.empty()) close(connections_.begin()->first);
    ::unlink(path_.c_str());
}

void ControlServer::on_accept() {
    while (true) {
        net::Fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) return;  // none pending (or a transient error: the next wake retries)
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            cred.uid != ::geteuid()) {
            log::warn("control socket: refused a connection from uid {}", cred.uid);
            continue;
        }
        const RequestId id = next_id_++;
        auto c = std::make_unique<Connection>();
        c->fd = std::move(fd);
        c->watch =
            loop_.watch(c->fd.get(), net::Interest::Read, [this, id](net::Ready) { on_ready(id); });
        Connection& conn = *c;
        connections_.emplace(id, std::move(c));
        if (connections_.size() > limits_.max_connections) {
            refuse(id, conn,
                   fmt::format("too many control connections (at most {}); try again",
                               limits_.max_connections));
            continue;
        }
        conn.timer = loop_.after(limits_.line_timeout, [this, id] {
            auto it = connections_.find(id);
            if (it == connections_.end()) return;
            it->second->timer = 0;
            if (!it->second->asked) close(id);  // never sent its line
        });
    }
}

void ControlServer::on_ready(RequestId id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& c = *it->second;
    if (c.asked && c.out.empty()) {
        // Nothing to write, so only a hang-up or an error wakes it: the controller went away.
        // Its command still runs; its answer is dropped. Unwatched, since a hung-up socket
        // would wake the loop on every turn.
        loop_.unwatch(c.watch);
        c.watch = 0;
    } else if (c.asked) {
        flush(id, c);  // writable, or the controller went away (the write says which)
    } else {
        read_line(id, c);
    }
}

void ControlServer::read_line(RequestId id, Connection& c) {
    char chunk[4096];
    while (true) {
        ssize_t n = ::read(c.fd.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) return close(id);  // gone before its line was whole
        c.in.append(chunk, static_cast<std::size_t>(n));
        const auto nl = c.in.find('\n');
        if (nl == std::string::npos ? c.in.size() > limits_.max_line_bytes
                                    : nl > limits_.max_line_bytes) {
            return refuse(id, c,
                          fmt::format("command longer than {} bytes", limits_.max_line_bytes));
        }
        if (nl == std::string::npos) continue;
        std::string line = c.in.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        c.in.clear();
        c.asked = true;  // from now on only the answer flows, out
        loop_.cancel(c.timer);
        c.timer = 0;
        loop_.set_interest(c.watch, net::Interest::None);
        on_request_(id, std::move(line));
        return;
    }
}

void ControlServer::output(RequestId id, std::string_view line) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& c = *it->second;
    if (c.watch == 0) return;
    c.out += "o ";
    for (char ch : line) c.out += ch == '\n' ? ' ' : ch;
    c.out += '\n';
    flush(id, c);
}

void ControlServer::finish(RequestId id, bool failed, std::function<void()> then) {
    auto it = connections_.find(id);
    if (it == connections_.end()) {
        if (then) loop_.defer(std::move(then));
        return;
    }
    Connection& c = *it->second;
    c.out += failed ? "s 1\n" : "s 0\n";
    c.finished = true;
    c.then = std::move(then);
    flush(id, c);
}

void ControlServer::refuse(RequestId id, Connection& c, std::string_view message) {
    c.asked = true;
    loop_.cancel(c.timer);
    c.timer = 0;
    c.out += fmt::format("o error: {}\ns 1\n", message);
    c.finished = true;
    flush(id, c);
}

void ControlServer::flush(RequestId id, Connection& c) {
    while (c.watch != 0 && !c.out.empty()) {
        ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            loop_.set_interest(c.watch, net::Interest::Write);
            return;
        }
        // The controller went away: its command still runs, its answer is dropped. The fd
        // is no longer watched (a hung-up socket would wake the loop on every turn).
        loop_.unwatch(c.watch);
        c.watch = 0;
        c.out.clear();
    }
    if (c.finished) return close(id);
    if (c.watch != 0) loop_.set_interest(c.watch, net::Interest::None);
}

void ControlServer::close(RequestId id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    std::unique_ptr<Connection> c = std::move(it->second);
    connections_.erase(it);
    if (c->watch != 0) loop_.unwatch(c->watch);
    loop_.cancel(c->timer);
    if (c->then) loop_.defer(std::move(c->then));
}

int run_control_command(const std::filesystem::path& data_dir,
                        const std::vector<std::string>& words) {
    std::string line;
    for (const auto& w : words) {
        if (!line.empty()) line += ' ';
        line += quote_word(w);
    }
    if (line.size() > kMaxControlLine) {
        std::printf("error: command longer than %zu bytes\n", kMaxControlLine);
        return 1;
    }
    line += '\n';
    const std::string no_client =
        fmt::format("error: no client runs with data directory {}\n", data_dir.string());
    net::Fd dir_fd;
    auto addr = socket_address(data_dir, dir_fd);
    if (!addr) {
        std::fputs(no_client.c_str(), stdout);
        return 2;
    }
    net::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid() ||
        ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
        std::fputs(no_client.c_str(), stdout);
        return 2;
    }
    for (std::string_view rest = line; !rest.empty();) {
        ssize_t n = ::send(fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            std::fputs(no_client.c_str(), stdout);
            return 2;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    // The answer: `o TEXT` lines, then `s STATUS`.
    std::string pending;
    std::optional<int> status;
    char chunk[4096];
    while (!status) {
        ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(chunk, static_cast<std::size_t>(n));
        std::size_t nl;
        while (!status && (nl = pending.find('\n')) != std::string::npos) {
            std::string_view l(pending.data(), nl);
            if (l.starts_with("o ")) {
                std::fwrite(l.data() + 2, 1, l.size() - 2, stdout);
                std::fputc('\n', stdout);
            } else if (l.starts_with("s ")) {
                status = l.substr(2) == "0" ? 0 : 1;
            }
            pending.erase(0, nl + 1);
        }
    }
    std::fflush(stdout);
    if (!status) {
        std::puts("error: the client closed the control connection without an answer");
        return 1;
    }
    return *status;
}

}  // namespace gs::peer
