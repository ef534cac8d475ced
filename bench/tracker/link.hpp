// Link: one connected non-blocking socket to the tracker, spoken either in plain frames or over
// TLS 1.3 (docs/protocol.md §1.4: no client certificate; the tracker's self-signed certificate is
// checked by its "sha256:<hex>" fingerprint). The load generator's set-up and load loop read and
// write through it, so both work against a tracker of either kind. Main thread only.
// TLS is the product's own (shared/net/tls.hpp: TlsContext, TlsSession); the benchmark drives
// it from its own loop rather than through the reactor's Connection.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "shared/net/fd.hpp"
#include "shared/net/tls.hpp"
#include "shared/result.hpp"

namespace gs::bench {

// The client side of TLS 1.3, once per process, with the fingerprint the tracker must present.
class TlsClient {
public:
    // `fingerprint` as the tracker prints it (shared/config.hpp, parse_fingerprint).
    static Result<TlsClient> create(std::string_view fingerprint);
    const std::string& fingerprint() const { return fingerprint_; }

private:
    friend class Link;
    TlsClient(net::TlsContext context, std::string fingerprint)
        : context_(std::move(context)), fingerprint_(std::move(fingerprint)) {}

    net::TlsContext context_;
    std::string fingerprint_;
};

class Link {
public:
    using Status = net::TlsSession::Status;
    using Io = net::TlsSession::Io;

    static Link plain(net::Fd fd) { return Link(std::move(fd)); }
    // A TLS session on a connected socket; drive handshake() until Done.
    static Result<Link> tls(net::Fd fd, const TlsClient& client);

    // Done at once for a plain link. For TLS, Done also means the certificate matched.
    Status handshake();
    // Plain: one recv/send. TLS: at most one record per call, so read until WantRead (epoll does
    // not see bytes OpenSSL already holds).
    Io read(char* dst, std::size_t max_bytes);
    Io write(const char* src, std::size_t bytes);

    int fd() const { return fd_.get(); }
    bool is_tls() const { return tls_.has_value(); }
    const std::string& error() const { return error_; }

private:
    explicit Link(net::Fd fd) : fd_(std::move(fd)) {}
    // Keeps the session's error for error().
    Status note(Status status);

    // Declared before tls_ so that the session is freed before its socket is closed.
    net::Fd fd_;
    std::optional<net::TlsSession> tls_;
    const TlsClient* client_ = nullptr;
    std::string error_;
};

}  // namespace gs::bench
