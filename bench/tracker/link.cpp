#include "bench/tracker/link.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "shared/config.hpp"

namespace gs::bench {

namespace {

// One recv or send on the non-blocking socket, again after EINTR. `zero_is_closed`: recv's 0.
template <typename Call>
Link::Io plain_io(Call call, Link::Status would_block, bool zero_is_closed, std::string& error) {
    while (true) {
        ssize_t n = call();
        if (n == 0 && zero_is_closed) return {Link::Status::Closed};
        if (n >= 0) return {Link::Status::Done, static_cast<std::size_t>(n)};
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return {would_block};
        error = std::strerror(errno);
        return {Link::Status::Failed};
    }
}

}  // namespace

Result<TlsClient> TlsClient::create(std::string_view fingerprint) {
    auto parsed = parse_fingerprint(fingerprint);
    if (!parsed) return parsed.error();
    auto context = net::TlsContext::client();
    if (!context) return context.error();
    return TlsClient(std::move(context).value(), std::move(parsed).value());
}

Result<Link> Link::tls(net::Fd fd, const TlsClient& client) {
    auto session = net::TlsSession::create(client.context_, fd.get());
    if (!session) return session.error();
    Link link(std::move(fd));
    link.tls_ = std::move(session).value();
    link.client_ = &client;
    return link;
}

Link::Status Link::note(Status status) {
    if (status == Status::Failed) error_ = tls_->error();
    return status;
}

Link::Status Link::handshake() {
    if (!tls_) return Status::Done;
    Status status = note(tls_->handshake());
    if (status != Status::Done) return status;
    std::string presented = tls_->peer_fingerprint();
    if (presented != client_->fingerprint()) {
        error_ = fmt::format("the tracker presented certificate {}, not {}",
                             presented.empty() ? "(none)" : presented, client_->fingerprint());
        return Status::Failed;
    }
    return Status::Done;
}

Link::Io Link::read(char* dst, std::size_t max_bytes) {
    if (!tls_) {
        return plain_io([&] { return ::recv(fd_.get(), dst, max_bytes, 0); }, Status::WantRead,
                        true, error_);
    }
    Io io = tls_->read(dst, max_bytes);
    note(io.status);
    return io;
}

Link::Io Link::write(const char* src, std::size_t bytes) {
    if (!tls_) {
        return plain_io([&] { return ::send(fd_.get(), src, bytes, MSG_NOSIGNAL); },
                        Status::WantWrite, false, error_);
    }
    Io io = tls_->write(src, bytes);
    note(io.status);
    return io;
}

}  // namespace gs::bench
