#include "bench/tracker/setup_client.hpp"

#include <fmt/format.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

#include "shared/proto/frame.hpp"

namespace gs::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for `events` on `fd` until `deadline`; false on timeout.
Result<bool> wait_for(int fd, short events, Clock::time_point deadline) {
    while (true) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) {
            return make_error(Errc::Io, fmt::format("poll: {}", std::strerror(errno)));
        }
    }
}

Error timeout_error(std::string_view what) {
    return make_error(Errc::Io, fmt::format("the tracker did not {} in time", what));
}

// Waits for what the link asked for; a timeout or a failure becomes an Error.
Status wait_for_link(const Link& link, Link::Status want, Clock::time_point deadline,
                     std::string_view what) {
    auto ready = wait_for(link.fd(), want == Link::Status::WantWrite ? POLLOUT : POLLIN, deadline);
    if (!ready) return ready.error();
    if (!*ready) return timeout_error(what);
    return {};
}

Error link_error(const Link& link, Link::Status status, std::string_view what) {
    if (status == Link::Status::Closed) {
        return make_error(Errc::Io, fmt::format("{}: the tracker closed the connection", what));
    }
    return make_error(Errc::Io, fmt::format("{}: {}", what, link.error()));
}

}  // namespace

Result<SetupClient> SetupClient::connect(const net::Endpoint& tracker, const TlsClient* tls,
                                         std::chrono::milliseconds timeout,
                                         const net::Endpoint* from) {
    const auto deadline = Clock::now() + timeout;
    auto fd = net::connect_tcp(tracker, from);
    if (!fd) return fd.error();
    auto ready = wait_for(fd->get(), POLLOUT, deadline);
    if (!ready) return ready.error();
    if (!*ready) return timeout_error("accept the connection");
    if (int err = net::connect_error(fd->get()); err != 0) {
        return make_error(Errc::Io, fmt::format("cannot connect to {}: {}", tracker.to_string(),
                                                std::strerror(err)));
    }
    if (tls == nullptr) return SetupClient(Link::plain(std::move(fd).value()));
    auto link = Link::tls(std::move(fd).value(), *tls);
    if (!link) return link.error();
    while (true) {
        auto status = link->handshake();
        if (status == Link::Status::Done) break;
        if (status != Link::Status::WantRead && status != Link::Status::WantWrite) {
            return link_error(*link, status, "TLS handshake");
        }
        if (auto s = wait_for_link(*link, status, deadline, "finish the TLS handshake"); !s) {
            return s.error();
        }
    }
    return SetupClient(std::move(link).value());
}

Result<proto::Value> SetupClient::call(proto::Dict request, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::int64_t seq = next_seq_++;
    std::string op = request["op"].as_string();
    request["seq"] = seq;
    if (auto sent = send_all(proto::make_frame(proto::encode(std::move(request))), deadline);
        !sent) {
        return sent.error();
    }
    auto body = read_frame(deadline);
    if (!body) return body.error();
    auto reply = proto::decode(*body);
    if (!reply) return make_error(Errc::Protocol, "unreadable reply: " + reply.error().message);
    if (reply->get_int("seq") != seq) {
        return make_error(Errc::Protocol, fmt::format("{}: reply to another request", op));
    }
    if (reply->get_int("ok") != 1) {
        return make_error(errc_from_name(reply->get_string("code").value_or("internal")),
                          fmt::format("{}: {}", op, reply->get_string("error").value_or("?")));
    }
    return reply;
}

Status SetupClient::send_all(const std::string& bytes, Clock::time_point deadline) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        auto io = link_.write(bytes.data() + sent, bytes.size() - sent);
        if (io.status == Link::Status::Done) {
            sent += io.bytes;
            continue;
        }
        if (io.status != Link::Status::WantRead && io.status != Link::Status::WantWrite) {
            return link_error(link_, io.status, "send");
        }
        if (auto s = wait_for_link(link_, io.status, deadline, "take the request"); !s) return s;
    }
    return {};
}

Result<std::string> SetupClient::read_frame(Clock::time_point deadline) {
    char chunk[64 * 1024];
    while (true) {
        auto frame = proto::peek_frame(in_);
        if (frame.status == proto::FrameStatus::TooLarge) {
            return make_error(Errc::Protocol, "the tracker sent an oversized frame");
        }
        if (frame.status == proto::FrameStatus::Ready) {
            std::string body(frame.body);
            in_.erase(0, frame.total_bytes);
            return body;
        }
        auto io = link_.read(chunk, sizeof chunk);
        if (io.status == Link::Status::Done) {
            in_.append(chunk, io.bytes);
            continue;
        }
        if (io.status != Link::Status::WantRead && io.status != Link::Status::WantWrite) {
            return link_error(link_, io.status, "receive");
        }
        if (auto s = wait_for_link(link_, io.status, deadline, "reply"); !s) return s.error();
    }
}

}  // namespace gs::bench
