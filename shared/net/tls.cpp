#include "shared/net/tls.hpp"

#include "shared/config.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>

namespace gs::net {

namespace {

constexpr const char* kCommonName = "groupshare tracker";
constexpr long kCertificateValidityDays = 3653;  // 10 years, leap days included

struct FreePkey {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct FreeX509 {
    void operator()(X509* p) const { X509_free(p); }
};
struct FreeBio {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct FreeBn {
    void operator()(BIGNUM* p) const { BN_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, FreePkey>;
using X509Ptr = std::unique_ptr<X509, FreeX509>;
using BioPtr = std::unique_ptr<BIO, FreeBio>;
using BnPtr = std::unique_ptr<BIGNUM, FreeBn>;

// The oldest queued OpenSSL error in one line (it is usually the cause), and an empty queue.
std::string openssl_error(std::string_view fallback) {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return std::string(fallback);
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

Error tls_error(std::string what) {
    return make_error(Errc::Io, fmt::format("{}: {}", what, openssl_error("unknown error")));
}

std::string fingerprint_of(X509* cert) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &length) != 1) return {};
    return format_fingerprint(std::string_view(reinterpret_cast<const char*>(digest), length));
}

// 1 if `path` exists, 0 if not, -1 (errno set) if it cannot be told.
int file_exists(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return 1;
    return errno == ENOENT ? 0 : -1;
}

Error file_error(std::string_view what, const std::string& path) {
    return make_error(Errc::Io, fmt::format("cannot {} {}: {}", what, path, std::strerror(errno)));
}

// Writes `path` whole or not at all (temp file, fsync, rename), created with `mode`.
Status write_pem(const std::string& path, mode_t mode, const std::function<bool(BIO*)>& write) {
    const std::string tmp = path + ".tmp";
    ::unlink(tmp.c_str());  // a leftover from a crash may have another mode
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return file_error("create", tmp);
    BioPtr bio(BIO_new_fd(fd, BIO_NOCLOSE));
    bool ok = bio != nullptr && write(bio.get()) && BIO_flush(bio.get()) == 1;
    bio.reset();
    if (!ok) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return tls_error(fmt::format("cannot write {}", tmp));
    }
    ok = ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return file_error("write", path);
    return {};
}

// The first PEM object in `path`, read by `read` (PEM_read_bio_PrivateKey, PEM_read_bio_X509);
// `what` names it in the error.
template <typename Ptr, typename Read>
Result<Ptr> read_pem(const std::string& path, Read read, const char* what) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) return tls_error(fmt::format("cannot read {}", path));
    Ptr object(read(bio.get(), nullptr, nullptr, nullptr));
    if (!object) return tls_error(fmt::format("{} holds no usable {}", path, what));
    return object;
}

Result<PkeyPtr> read_key(const std::string& path) {
    return read_pem<PkeyPtr>(path, PEM_read_bio_PrivateKey, "private key");
}

Result<X509Ptr> read_certificate(const std::string& path) {
    return read_pem<X509Ptr>(path, PEM_read_bio_X509, "certificate");
}

Result<X509Ptr> make_certificate(EVP_PKEY* key) {
    X509Ptr cert(X509_new());
    unsigned char serial[16];
    if (!cert || RAND_bytes(serial, sizeof serial) != 1) return tls_error("certificate");
    serial[0] &= 0x7f;  // a positive serial number
    BnPtr serial_bn(BN_bin2bn(serial, sizeof serial, nullptr));
    X509_NAME* name = X509_get_subject_name(cert.get());
    bool ok = serial_bn != nullptr && X509_set_version(cert.get(), 2) == 1 &&  // X.509 v3
              BN_to_ASN1_INTEGER(serial_bn.get(), X509_get_serialNumber(cert.get())) != nullptr &&
              X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) != nullptr &&
              X509_time_adj_ex(X509_getm_notAfter(cert.get()), kCertificateValidityDays, 0,
                               nullptr) != nullptr &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char*>(kCommonName), -1,
                                         -1, 0) == 1 &&
              X509_set_issuer_name(cert.get(), name) == 1 &&  // self-signed
              X509_set_pubkey(cert.get(), key) == 1 && X509_sign(cert.get(), key, EVP_sha256()) > 0;
    if (!ok) return tls_error("cannot make the tracker's certificate");
    return cert;
}

// Settings both roles share (docs/protocol.md §1.4).
bool configure_common(SSL_CTX* ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) return false;
    // Partial writes let Connection hand over its whole output buffer, which may move in memory
    // between retries; idle links give their record buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    // A peer that vanishes without close_notify is just "closed": frames carry their own
    // length, so a cut-off stream cannot pass for a whole message.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return true;
}

}  // namespace

// ---- identity ----

Result<TlsIdentity> load_or_create_tls_identity(const std::string& base) {
    TlsIdentity id;
    id.key_path = base + ".tls-key.pem";
    id.cert_path = base + ".tls-cert.pem";
    int has_key = file_exists(id.key_path);
    if (has_key < 0) return file_error("read", id.key_path);
    int has_cert = file_exists(id.cert_path);
    if (has_cert < 0) return file_error("read", id.cert_path);
    if (has_key == 0 && has_cert == 1) {
        return make_error(Errc::Io, fmt::format("{} has no private key next to it ({}); move the "
                                                "certificate away to make a new pair (clients "
                                                "that pinned the old one will refuse it)",
                                                id.cert_path, id.key_path));
    }

    PkeyPtr key;
    if (has_key == 1) {
        auto loaded = read_key(id.key_path);
        if (!loaded) return loaded.error();
        key = std::move(loaded).value();
    } else {
        key.reset(EVP_EC_gen("P-256"));
        if (!key) return tls_error("cannot make the tracker's key");
        auto written = write_pem(id.key_path, 0600, [&](BIO* bio) {
            return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr,
                                            nullptr) == 1;
        });
        if (!written) return written.error();
    }

    X509Ptr cert;
    if (has_cert == 1) {
        auto loaded = read_certificate(id.cert_path);
        if (!loaded) return loaded.error();
        cert = std::move(loaded).value();
        if (X509_check_private_key(cert.get(), key.get()) != 1) {
            ERR_clear_error();
            return make_error(Errc::Io, fmt::format("{} does not belong to the key {}; move both "
                                                    "away to make a new pair",
                                                    id.cert_path, id.key_path));
        }
    } else {
        auto made = make_certificate(key.get());
        if (!made) return made.error();
        cert = std::move(made).value();
        auto written = write_pem(
            id.cert_path, 0644, [&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()) == 1; });
        if (!written) return written.error();
        id.created = true;
    }
    id.fingerprint = fingerprint_of(cert.get());
    if (id.fingerprint.empty()) return tls_error("cannot hash the tracker's certificate");
    return id;
}

// ---- TlsContext ----

Result<TlsContext> TlsContext::server(const TlsIdentity& identity) {
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    if (raw == nullptr) return tls_error("cannot make a TLS context");
    TlsContext ctx(raw, true);
    if (!configure_common(raw)) return tls_error("cannot require TLS 1.3");
    if (SSL_CTX_use_certificate_file(raw, identity.cert_path.c_str(), SSL_FILETYPE_PEM) != 1) {
        return tls_error(fmt::format("cannot load {}", identity.cert_path));
    }
    if (SSL_CTX_use_PrivateKey_file(raw, identity.key_path.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(raw) != 1) {
        return tls_error(fmt::format("cannot load {}", identity.key_path));
    }
    // Clients make a full handshake on every connect: session tickets would only cost bytes.
    SSL_CTX_set_num_tickets(raw, 0);
    return ctx;
}

Result<TlsContext> TlsContext::client() {
    SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
    if (raw == nullptr) return tls_error("cannot make a TLS context");
    TlsContext ctx(raw, false);
    if (!configure_common(raw)) return tls_error("cannot require TLS 1.3");
    // The tracker's certificate is self-signed: no chain to check. The caller compares its
    // fingerprint with the pinned one before sending anything (docs/protocol.md §1.4).
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
    return ctx;
}

void TlsContext::FreeCtx::operator()(ssl_ctx_st* ctx) const {
    SSL_CTX_free(ctx);
}

// ---- TlsSession ----

Result<TlsSession> TlsSession::create(const TlsContext& context, int fd) {
    SSL* ssl = SSL_new(context.ctx_.get());
    if (ssl == nullptr) return tls_error("cannot start a TLS session");
    TlsSession session(ssl, context.server_);
    if (SSL_set_fd(ssl, fd) != 1) return tls_error("cannot start a TLS session");
    if (context.server_) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
    }
    return session;
}

TlsSession::TlsSession(TlsSession&& other) noexcept
    : ssl_(std::exchange(other.ssl_, nullptr)),
      server_(other.server_),
      failed_(other.failed_),
      error_(std::move(other.error_)) {}

TlsSession& TlsSession::operator=(TlsSession&& other) noexcept {
    if (this != &other) {
        SSL_free(ssl_);
        ssl_ = std::exchange(other.ssl_, nullptr);
        server_ = other.server_;
        failed_ = other.failed_;
        error_ = std::move(other.error_);
    }
    return *this;
}

TlsSession::~TlsSession() {
    SSL_free(ssl_);
}

TlsSession::Status TlsSession::classify(int ret) {
    int saved_errno = errno;
    switch (SSL_get_error(ssl_, ret)) {
        case SSL_ERROR_WANT_READ: return Status::WantRead;
        case SSL_ERROR_WANT_WRITE: return Status::WantWrite;
        case SSL_ERROR_ZERO_RETURN: return Status::Closed;
        case SSL_ERROR_SYSCALL:
            failed_ = true;  // OpenSSL forbids even a shutdown after this
            if (ERR_peek_error() == 0 && saved_errno == 0) return Status::Closed;  // plain EOF
            error_ = saved_errno != 0 ? std::strerror(saved_errno) : openssl_error("socket error");
            ERR_clear_error();
            return Status::Failed;
        case SSL_ERROR_SSL:
            failed_ = true;
            error_ = openssl_error("protocol error");
            return Status::Failed;
        default:
            failed_ = true;
            error_ = openssl_error("unexpected TLS state");
            return Status::Failed;
    }
}

TlsSession::Status TlsSession::handshake() {
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(ssl_);
    return ret == 1 ? Status::Done : classify(ret);
}

TlsSession::Io TlsSession::read(char* dst, std::size_t max_bytes) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    if (SSL_read_ex(ssl_, dst, max_bytes, &n) == 1) return {Status::Done, n};
    return {classify(0), 0};
}

TlsSession::Io TlsSession::write(const char* src, std::size_t bytes) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    if (SSL_write_ex(ssl_, src, bytes, &n) == 1) return {Status::Done, n};
    return {classify(0), 0};
}

std::size_t TlsSession::pending_bytes() const {
    int n = SSL_pending(ssl_);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

void TlsSession::shutdown() {
    if (failed_ || ssl_ == nullptr || SSL_is_init_finished(ssl_) != 1) return;
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
}

std::string TlsSession::peer_fingerprint() const {
    X509Ptr cert(SSL_get1_peer_certificate(ssl_));
    return cert ? fingerprint_of(cert.get()) : std::string();
}

}  // namespace gs::net
