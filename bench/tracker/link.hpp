// Link: one connected non-blocking socket to the tracker, spoken either in plain frames or over
// TLS 1.3 (docs/protocol.md §1.4: no client certificate; the tracker's self-signed certificate is
// checked by its "sha256:<hex>" fingerprint). The load generator's set-up and load loop read and
// write through it, so both work against a tracker of either kind. Main thread only.
// OpenSSL is used directly rather than through shared/net: this benchmark needs only the
// client side, and depends on the wire format rather than on the reactor's Connection.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "shared/net/fd.hpp"
#include "shared/result.hpp"

struct ssl_st;
struct ssl_ctx_st;

namespace gs::bench {

struct SslCtxFree {
    void operator()(ssl_ctx_st* ctx) const;
};
struct SslFree {
    void operator()(ssl_st* ssl) const;
};

// The client side of TLS 1.3, once per process, with the fingerprint the tracker must present.
class TlsClient {
public:
    // `fingerprint` is "sha256:" and 64 hex digits, as the tracker prints it.
    static Result<TlsClient> create(std::string fingerprint);
    const std::string& fingerprint() const { return fingerprint_; }

private:
    friend class Link;
    TlsClient(std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx, std::string fingerprint)
        : ctx_(std::move(ctx)), fingerprint_(std::move(fingerprint)) {}

    std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx_;
    std::string fingerprint_;
};

class Link {
public:
    enum class Status { Done, WantRead, WantWrite, Closed, Failed };
    struct Io {
        Status status;
        std::size_t bytes = 0;
    };

    static Link plain(net::Fd fd) { return Link(std::move(fd), nullptr); }
    // A TLS session on a connected socket; drive handshake() until Done.
    static Result<Link> tls(net::Fd fd, const TlsClient& client);

    // Done at once for a plain link. For TLS, Done also means the certificate matched.
    Status handshake();
    // Plain: one recv/send. TLS: at most one record per call, so read until WantRead (epoll does
    // not see bytes OpenSSL already holds).
    Io read(char* dst, std::size_t max_bytes);
    Io write(const char* src, std::size_t bytes);

    int fd() const { return fd_.get(); }
    bool is_tls() const { return ssl_ != nullptr; }
    const std::string& error() const { return error_; }

private:
    Link(net::Fd fd, std::unique_ptr<ssl_st, SslFree> ssl)
        : fd_(std::move(fd)), ssl_(std::move(ssl)) {}
    Status classify(int ret);

    // Declared before ssl_ so that the session is freed before its socket is closed.
    net::Fd fd_;
    std::unique_ptr<ssl_st, SslFree> ssl_;
    const TlsClient* client_ = nullptr;
    std::string error_;
};

}  // namespace gs::bench
