#include "shared/net/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace gs::net {

std::string Endpoint::to_string() const {
    return fmt::format("{}:{}", host, port);
}

sockaddr_in Endpoint::to_sockaddr() const {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
    return sa;
}

Result<Endpoint> parse_endpoint(std::string_view text, bool allow_port_zero) {
    auto bad = [&](std::string_view why) {
        return make_error(
            Errc::BadInput,
            fmt::format("bad address '{}': {} (expected IP:PORT, e.g. 127.0.0.1:8000)", text, why));
    };
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no ':' before the port");
    std::string host(text.substr(0, colon));
    std::string_view port_text = text.substr(colon + 1);
    in_addr addr{};
    if (host.empty() || ::inet_pton(AF_INET, host.c_str(), &addr) != 1) {
        return bad("the host must be a numeric IPv4 address");
    }
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || p != port_text.data() + port_text.size() ||
        port > 65535) {
        return bad("the port must be a number from 1 to 65535");
    }
    if (port == 0 && !allow_port_zero) return bad("the port must be a number from 1 to 65535");
    return Endpoint{host, static_cast<std::uint16_t>(port)};
}

namespace {
Error sys_error(std::string_view what, const Endpoint& ep) {
    return make_error(Errc::Io,
                      fmt::format("cannot {} {}: {}", what, ep.to_string(), std::strerror(errno)));
}
}  // namespace

Result<Fd> listen_tcp(const Endpoint& at, int backlog) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return sys_error("create a socket for", at);
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = at.to_sockaddr();
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        return sys_error("bind to", at);
    }
    if (::listen(fd.get(), backlog) != 0) return sys_error("listen on", at);
    return fd;
}

Result<Fd> connect_tcp(const Endpoint& to, const Endpoint* from) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return sys_error("create a socket for", to);
    if (from != nullptr) {
        sockaddr_in local = from->to_sockaddr();
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            return sys_error("bind a socket to", *from);
        }
    }
    sockaddr_in sa = to.to_sockaddr();
    int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    if (rc != 0 && errno != EINPROGRESS) return sys_error("connect to", to);
    set_tcp_nodelay(fd.get());
    return fd;
}

int connect_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

Fd accept_tcp(int listen_fd, Endpoint* peer) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    while (true) {
        int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (peer != nullptr) {
                char host[INET_ADDRSTRLEN] = {};
                ::inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
                *peer = Endpoint{host, ntohs(sa.sin_port)};
            }
            set_tcp_nodelay(fd);
            return Fd(fd);
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return Fd();  // EAGAIN, or EMFILE and friends: the caller retries on the next event
    }
}

Result<Endpoint> local_endpoint(int fd) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
        return make_error(Errc::Io, fmt::format("getsockname: {}", std::strerror(errno)));
    }
    char host[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    return Endpoint{host, ntohs(sa.sin_port)};
}

void set_tcp_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace gs::net
