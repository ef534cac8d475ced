// Numeric IPv4 TCP helpers: parse "IP:PORT", listen, non-blocking connect, addresses.
// No DNS anywhere: the reactor must never block.
#pragma once

#include "shared/net/fd.hpp"
#include "shared/result.hpp"

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace gs::net {

struct Endpoint {
    std::string host;  // dotted IPv4
    std::uint16_t port = 0;
    std::string to_string() const;
    sockaddr_in to_sockaddr() const;
};

// "127.0.0.1:8000" -> Endpoint. Port 0 is allowed only when `allow_port_zero`.
Result<Endpoint> parse_endpoint(std::string_view text, bool allow_port_zero = true);

// A non-blocking listening socket bound to `at` (port 0 picks a free port).
Result<Fd> listen_tcp(const Endpoint& at, int backlog = 1024);
// Starts a non-blocking connect; completion is signalled by writability (check connect_error).
// With `from`, the socket is bound to that local address first (port 0: any).
Result<Fd> connect_tcp(const Endpoint& to, const Endpoint* from = nullptr);
// After writability on a connecting socket: 0 when connected, else the errno.
int connect_error(int fd);
// Accepts one connection, non-blocking; an invalid Fd when none is pending.
Fd accept_tcp(int listen_fd, Endpoint* peer = nullptr);

Result<Endpoint> local_endpoint(int fd);
void set_tcp_nodelay(int fd);

}  // namespace gs::net
