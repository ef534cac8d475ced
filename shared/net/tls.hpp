// TLS 1.3 for the client<->tracker link (docs/protocol.md §1.4), with OpenSSL:
// - TlsContext owns an SSL_CTX, one per process and role, made at start-up.
// - TlsSession owns one SSL over a non-blocking socket; Connection drives it from the reactor
//   thread and maps its WantRead/WantWrite to epoll interest.
// - load_or_create_tls_identity() gives the tracker its EC P-256 key and self-signed certificate
//   next to its database, at start-up.
// A TlsSession writes with write(2): the process must ignore SIGPIPE (both mains do).
#pragma once

#include "shared/result.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace gs::net {

// A peer that has not finished its handshake by then is dropped (docs/protocol.md §1.4).
inline constexpr std::chrono::seconds kTlsHandshakeTimeout{10};

// The tracker's key and certificate files and the certificate's fingerprint
// ("sha256:<hex>", see shared/config.hpp).
struct TlsIdentity {
    std::string key_path;   // <base>.tls-key.pem, mode 0600
    std::string cert_path;  // <base>.tls-cert.pem
    std::string fingerprint;
    bool created = false;  // made by this call
};

// Loads <base>.tls-key.pem and <base>.tls-cert.pem, or creates them: an EC P-256 key and a
// self-signed X.509 certificate (CN "groupshare tracker", 10 years, SHA-256). A key without a
// certificate gets a new certificate; a certificate without its key is an error.
Result<TlsIdentity> load_or_create_tls_identity(const std::string& base);

class TlsContext {
public:
    // TLS 1.3 only. The server presents `identity`; the client accepts any certificate during
    // the handshake and leaves the check to the caller (TlsSession::peer_fingerprint).
    static Result<TlsContext> server(const TlsIdentity& identity);
    static Result<TlsContext> client();

    // Movable, not copyable (it owns the OpenSSL context).
    bool is_server() const { return server_; }

private:
    friend class TlsSession;
    struct FreeCtx {
        void operator()(ssl_ctx_st* ctx) const;
    };
    TlsContext(ssl_ctx_st* ctx, bool server) : ctx_(ctx), server_(server) {}

    std::unique_ptr<ssl_ctx_st, FreeCtx> ctx_;
    bool server_ = false;
};

class TlsSession {
public:
    enum class Status {
        Done,       // the operation completed (read/write: `bytes` moved)
        WantRead,   // retry when the socket is readable
        WantWrite,  // retry when the socket is writable
        Closed,     // the peer closed the link
        Failed,     // a TLS or socket error: error() says what, in one line
    };
    struct Io {
        Status status;
        std::size_t bytes = 0;
    };

    // A session on the connected socket `fd` (not owned), in the context's role.
    static Result<TlsSession> create(const TlsContext& context, int fd);

    TlsSession(TlsSession&& other) noexcept;
    TlsSession& operator=(TlsSession&& other) noexcept;
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;
    ~TlsSession();

    bool is_server() const { return server_; }

    Status handshake();
    Io read(char* dst, std::size_t max_bytes);
    // Moves at most one record's worth per call; call again with the rest (the buffer may move
    // between calls, but must start with the bytes not yet taken).
    Io write(const char* src, std::size_t bytes);
    // Decrypted bytes held inside OpenSSL: epoll will not report them.
    std::size_t pending_bytes() const;
    // Sends close_notify, best effort and without waiting; nothing after a failure.
    void shutdown();

    // After the handshake: the fingerprint of the peer's certificate, or "" if it sent none.
    std::string peer_fingerprint() const;
    const std::string& error() const { return error_; }

private:
    TlsSession(ssl_st* ssl, bool server) : ssl_(ssl), server_(server) {}
    Status classify(int ret);

    ssl_st* ssl_ = nullptr;
    bool server_ = false;
    bool failed_ = false;
    std::string error_;
};

}  // namespace gs::net
