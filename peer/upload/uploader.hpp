// Uploader: serves pieces to other peers. Owns the client's listening socket and one
// UploadSession per incoming connection (BEP 3): handshake for a shared info hash, bitfield,
// unchoke, then blocks of verified pieces read with pread straight into the output buffer. The
// per-peer queue of requests is bounded. Reactor thread only.
#pragma once

#include "peer/shares.hpp"
#include "peer/wire/wire.hpp"
#include "shared/net/buffer.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

namespace gs::peer {

class Uploader;

class UploadSession {
public:
    UploadSession(Uploader& owner, std::uint64_t id, net::Fd fd, std::string peer);
    ~UploadSession();
    UploadSession(const UploadSession&) = delete;
    UploadSession& operator=(const UploadSession&) = delete;

    void send_have(std::string_view raw_info_hash, std::uint32_t piece);
    void close(std::string_view reason);
    bool is_closed() const { return closed_; }

private:
    struct Request {
        std::uint32_t piece, begin, length;
    };
    void on_ready(net::Ready ready);
    void on_input();
    void handle(const wire::Message& m);
    void fill_output();
    void flush();

    Uploader& owner_;
    std::uint64_t id_;
    net::Fd fd_;
    std::string peer_;
    net::WatchId watch_ = 0;
    net::TimerId idle_timer_ = 0;
    net::Buffer in_;
    net::Buffer out_;
    std::string info_hash_;  // raw, after the handshake
    bool handshaken_ = false;
    bool closed_ = false;
    std::deque<Request> queue_;
    std::uint64_t served_bytes_ = 0;
};

class Uploader {
public:
    static constexpr std::size_t kMaxQueuedRequests = 1024;
    static constexpr std::size_t kOutputTargetBytes = 1024 * 1024;

    Uploader(net::EventLoop& loop, net::Fd listener, Shares& shares, std::string peer_id);
    ~Uploader();

    // While not serving (logged out), incoming connections are refused and existing ones closed.
    void set_serving(bool serving);
    // A piece became available (a download verified it): tell connected peers of that file.
    void announce_have(std::string_view raw_info_hash, std::uint32_t piece);
    // Closes sessions of a share that went away.
    void drop_share(std::string_view raw_info_hash);

    net::EventLoop& loop() { return loop_; }
    Shares& shares() { return shares_; }
    const std::string& peer_id() const { return peer_id_; }
    void reap(std::uint64_t id);

private:
    void on_acceptable();

    net::EventLoop& loop_;
    net::Fd listener_;
    net::WatchId watch_ = 0;
    Shares& shares_;
    std::string peer_id_;
    bool serving_ = false;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, std::unique_ptr<UploadSession>> sessions_;
    friend class UploadSession;
};

}  // namespace gs::peer
