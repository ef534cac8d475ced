#include "tracker/server.hpp"

#include "shared/log.hpp"
#include "shared/proto/bencode.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace gs::tracker {
namespace {

// The frame that tells a client its link is closed because it was idle, not because anything
// failed: it then reconnects to this tracker rather than failing over (docs/protocol.md §1.2).
std::string idle_notice(net::Clock::duration idle_timeout) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(idle_timeout).count();
    return proto::encode(proto::Value(proto::Dict{
        {"seq", 0},
        {"ok", 0},
        {"code", "limit"},
        {"closing", "idle"},
        {"error", fmt::format("idle: no request for {} s; the tracker closes the link", seconds)},
    }));
}

}  // namespace

Server::Server(net::EventLoop& loop, net::Fd listener, const net::TlsContext& tls,
               MakeSink make_sink, ServerLimits limits)
    : loop_(loop),
      listener_(std::move(listener)),
      tls_(tls),
      limits_(limits),
      idle_notice_(idle_notice(limits.idle_timeout)),
      sink_(make_sink(*this)) {
    listen_watch_ =
        loop_.watch(listener_.get(), net::Interest::Read, [this](net::Ready) { on_acceptable(); });
}

Server::~Server() {
    stop_accepting();
    connections_.clear();
}

void Server::stop_accepting() {
    if (listen_watch_ != 0) {
        loop_.unwatch(listen_watch_);
        listen_watch_ = 0;
    }
    listener_.reset();
}

void Server::on_acceptable() {
    // Bounded per event so a connection flood cannot starve the requests already in.
    for (int i = 0; i < 128; ++i) {
        net::Endpoint peer;
        net::Fd fd = net::accept_tcp(listener_.get(), &peer);
        if (!fd.valid()) {
            if (errno == EMFILE || errno == ENFILE) {
                log::warn("accept: {} (connections: {})", std::strerror(errno),
                          connections_.size());
            }
            return;
        }
        if (connections_.size() >= limits_.max_connections) {
            log::warn("refusing {}: connection limit {} reached", peer.to_string(),
                      limits_.max_connections);
            continue;  // fd closes here
        }
        if (auto from_here = per_address_.find(peer.host);
            from_here != per_address_.end() && from_here->second >= limits_.max_per_address) {
            log::warn("refusing {}: {} connections from {} already, the limit per address",
                      peer.to_string(), from_here->second, peer.host);
            continue;  // fd closes here
        }
        auto session = net::TlsSession::create(tls_, fd.get());
        if (!session) {
            log::warn("refusing {}: {}", peer.to_string(), session.error().message);
            continue;
        }
        ConnId id = next_id_++;
        std::string name = peer.to_string();
        std::string host = peer.host;
        net::Connection::Callbacks callbacks;
        callbacks.on_frame = [this, id](std::string_view body) { sink_->on_frame(id, body); };
        callbacks.on_oversized = [this, id](std::uint32_t declared) {
            sink_->on_oversized_frame(id, declared);
        };
        callbacks.on_closed = [this, id](std::string_view reason) { on_closed(id, reason); };
        net::ConnectionLimits conn_limits;
        conn_limits.idle_timeout = limits_.idle_timeout;
        conn_limits.idle_notice = idle_notice_;
        conn_limits.max_frame_bytes = limits_.preauth_max_frame_bytes;
        conn_limits.output_high_water_bytes = limits_.preauth_output_high_water_bytes;
        connections_.emplace(id, Client{std::make_unique<net::Connection>(
                                            loop_, std::move(fd), name, std::move(callbacks),
                                            conn_limits, std::move(session).value()),
                                        peer.host});
        ++per_address_[peer.host];
        sink_->on_connect(id, name, host);
    }
}

void Server::send(ConnId id, std::string_view body) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second.conn->send_frame(body);
}

void Server::close_after_flush(ConnId id, std::string_view reason) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second.conn->close_after_flush(reason);
}

void Server::set_authenticated(ConnId id, bool authenticated) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    if (authenticated) {
        it->second.conn->set_frame_limits(limits_.max_frame_bytes, limits_.output_high_water_bytes);
    } else {
        it->second.conn->set_frame_limits(limits_.preauth_max_frame_bytes,
                                          limits_.preauth_output_high_water_bytes);
    }
}

void Server::pause_input(ConnId id, bool paused) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second.conn->pause_input(paused);
}

std::size_t Server::max_frame_bytes(ConnId id) const {
    auto it = connections_.find(id);
    return it == connections_.end() ? 0 : it->second.conn->max_frame_bytes();
}

void Server::on_closed(ConnId id, std::string_view reason) {
    sink_->on_disconnect(id, reason);
    // Never destroy a connection inside its own callback (docs/ARCHITECTURE.md, habit 3).
    loop_.defer([this, id] {
        auto it = connections_.find(id);
        if (it == connections_.end()) return;
        auto count = per_address_.find(it->second.host);
        if (count != per_address_.end() && --count->second == 0) per_address_.erase(count);
        connections_.erase(it);
    });
}

}  // namespace gs::tracker
