#include "bench/tracker/link.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace gs::bench {

void SslCtxFree::operator()(ssl_ctx_st* ctx) const {
    SSL_CTX_free(ctx);
}
void SslFree::operator()(ssl_st* ssl) const {
    SSL_free(ssl);
}

namespace {

std::string openssl_error(std::string_view what) {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return std::string(what);
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return fmt::format("{}: {}", what, text);
}

// docs/protocol.md §1.4: "sha256:" + lowercase hex of SHA-256 over the DER certificate.
std::string fingerprint_of(X509* cert) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &size) != 1) return {};
    std::string out = "sha256:";
    for (unsigned int i = 0; i < size; ++i) out += fmt::format("{:02x}", digest[i]);
    return out;
}

}  // namespace

Result<TlsClient> TlsClient::create(std::string fingerprint) {
    std::transform(fingerprint.begin(), fingerprint.end(), fingerprint.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (fingerprint.size() != 7 + 64 || fingerprint.rfind("sha256:", 0) != 0) {
        return make_error(
            Errc::BadInput,
            fmt::format("bad fingerprint '{}': use sha256: and 64 hex digits", fingerprint));
    }
    std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1) {
        return make_error(Errc::Internal, openssl_error("cannot make a TLS context"));
    }
    SSL_CTX_set_mode(ctx.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Self-signed: the fingerprint, checked after the handshake, is the trust.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    return TlsClient(std::move(ctx), std::move(fingerprint));
}

Result<Link> Link::tls(net::Fd fd, const TlsClient& client) {
    std::unique_ptr<ssl_st, SslFree> ssl(SSL_new(client.ctx_.get()));
    if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1) {
        return make_error(Errc::Internal, openssl_error("cannot start a TLS session"));
    }
    SSL_set_connect_state(ssl.get());
    Link link(std::move(fd), std::move(ssl));
    link.client_ = &client;
    return link;
}

Link::Status Link::classify(int ret) {
    const int saved_errno = errno;
    switch (SSL_get_error(ssl_.get(), ret)) {
        case SSL_ERROR_WANT_READ:
            return Status::WantRead;
        case SSL_ERROR_WANT_WRITE:
            return Status::WantWrite;
        case SSL_ERROR_ZERO_RETURN:
            return Status::Closed;
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_error() == 0 && saved_errno == 0) return Status::Closed;
            error_ = saved_errno != 0 ? std::strerror(saved_errno) : openssl_error("socket error");
            ERR_clear_error();
            return Status::Failed;
        default:
            error_ = openssl_error("TLS error");
            return Status::Failed;
    }
}

Link::Status Link::handshake() {
    if (!ssl_) return Status::Done;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(ssl_.get());
    if (ret != 1) return classify(ret);
    X509* cert = SSL_get1_peer_certificate(ssl_.get());
    std::string presented = cert != nullptr ? fingerprint_of(cert) : std::string();
    X509_free(cert);
    if (presented != client_->fingerprint()) {
        error_ = fmt::format("the tracker presented certificate {}, not {}",
                             presented.empty() ? "(none)" : presented, client_->fingerprint());
        return Status::Failed;
    }
    return Status::Done;
}

Link::Io Link::read(char* dst, std::size_t max_bytes) {
    if (!ssl_) {
        while (true) {
            ssize_t n = ::recv(fd_.get(), dst, max_bytes, 0);
            if (n > 0) return {Status::Done, static_cast<std::size_t>(n)};
            if (n == 0) return {Status::Closed};
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return {Status::WantRead};
            error_ = std::strerror(errno);
            return {Status::Failed};
        }
    }
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    if (SSL_read_ex(ssl_.get(), dst, max_bytes, &n) == 1) return {Status::Done, n};
    return {classify(0)};
}

Link::Io Link::write(const char* src, std::size_t bytes) {
    if (!ssl_) {
        while (true) {
            ssize_t n = ::send(fd_.get(), src, bytes, MSG_NOSIGNAL);
            if (n >= 0) return {Status::Done, static_cast<std::size_t>(n)};
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return {Status::WantWrite};
            error_ = std::strerror(errno);
            return {Status::Failed};
        }
    }
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    if (SSL_write_ex(ssl_.get(), src, bytes, &n) == 1) return {Status::Done, n};
    return {classify(0)};
}

}  // namespace gs::bench
