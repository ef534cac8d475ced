// PeerSession: one outgoing connection we download from (BEP 3). An explicit state machine —
// Connecting -> Handshaking -> Active -> Closed — with a deadline in every state. It keeps a
// pipeline of block requests sized from the peer's measured rate. Owned by its Downloader,
// which it calls for every event; reactor thread only.
#pragma once

#include "peer/download/piece_picker.hpp"
#include "peer/wire/wire.hpp"
#include "shared/bitfield.hpp"
#include "shared/net/buffer.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "shared/net/socket.hpp"

#include <string>
#include <vector>

namespace gs::peer {

class Downloader;

class PeerSession {
public:
    enum class State { Connecting, Handshaking, Active, Closed };

    PeerSession(Downloader& owner, PeerKey key, net::Endpoint address);
    ~PeerSession();
    PeerSession(const PeerSession&) = delete;
    PeerSession& operator=(const PeerSession&) = delete;

    void start();
    void close(std::string_view operation, std::string_view reason);
    void cancel(const BlockRequest& block);
    // Tops up the request pipeline from the picker.
    void request_more();

    State state() const { return state_; }
    PeerKey key() const { return key_; }
    const net::Endpoint& address() const { return address_; }
    const Bitfield& has() const { return has_; }
    double rate_bytes_per_second() const { return rate_; }
    std::size_t in_flight() const { return requested_.size(); }

private:
    void on_ready(net::Ready ready);
    void on_connected();
    void on_input();
    void on_message(const wire::Message& m);
    void arm_deadline(std::chrono::milliseconds after, const char* what);
    void flush();
    std::size_t target_in_flight() const;

    Downloader& owner_;
    PeerKey key_;
    net::Endpoint address_;
    State state_ = State::Connecting;
    net::Fd fd_;
    net::WatchId watch_ = 0;
    net::TimerId deadline_ = 0;
    net::Buffer in_;
    net::Buffer out_;
    Bitfield has_;
    bool choked_ = true;
    std::vector<BlockRequest> requested_;
    net::Clock::time_point last_block_{};
    net::Clock::time_point rate_window_start_{};
    std::uint64_t rate_window_bytes_ = 0;
    double rate_ = 0;
};

}  // namespace gs::peer
