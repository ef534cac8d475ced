// PeerSession: one outgoing connection a Downloader fetches blocks over (BEP 3). An explicit
// state machine — Connecting -> Handshaking -> Active -> Closed — with a deadline in every state
// that can stall: connect, handshake, and "requests outstanding but no block arrives". It keeps a
// pipeline of block requests sized from the peer's measured rate, so a fast peer never idles and
// a slow one holds few blocks. With the seeder's key (from the tracker) the connection is a
// sealed channel (peer/seal/channel.hpp): the BEP 3 stream runs inside its records, and the
// handshake deadline covers the channel's handshake too. Owned by its Downloader, which it
// calls for every event; reactor thread only.
#pragma once

#include "peer/download/indexes.hpp"
#include "peer/seal/channel.hpp"
#include "peer/wire/wire.hpp"
#include "shared/bitfield.hpp"
#include "shared/net/buffer.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "shared/net/socket.hpp"

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace gs::peer {

class Downloader;

// How long a seeder may stall in each state before the session gives up on it. Tests shorten
// them; the client runs with the defaults.
struct SessionDeadlines {
    net::Clock::duration connect = std::chrono::seconds(5);
    net::Clock::duration handshake = std::chrono::seconds(10);
    // We want pieces the peer has, and it keeps us choked this long (members unchoke at once).
    net::Clock::duration unchoke = std::chrono::seconds(30);
    // Requests are outstanding and not one block came for this long: the peer is stalled.
    net::Clock::duration block = std::chrono::seconds(5);
};

class PeerSession {
public:
    enum class State { Connecting, Handshaking, Active, Closed };

    // Pipeline depth: enough blocks to cover kTargetLatency at the measured rate, within bounds.
    static constexpr auto kTargetLatency = std::chrono::milliseconds(250);
    static constexpr std::size_t kMinInFlight = 4;
    // Before its rate is measured a peer starts with a few requests and gets one more for each
    // block it delivers (a slow start), up to kStartInFlight: a peer that delivers nothing never
    // holds many blocks others could have fetched.
    static constexpr std::size_t kInitialInFlight = 8;
    static constexpr std::size_t kStartInFlight = 64;
    static constexpr std::size_t kMaxInFlight = 256;  // 4 MiB of 16 KiB blocks

    // `seeder_key`: the seeder's sealed-channel key; none: plain BEP 3 (open shares and tests).
    PeerSession(Downloader& owner, PeerId id, net::Endpoint address,
                std::optional<seal::Key> seeder_key = std::nullopt);
    ~PeerSession();
    PeerSession(const PeerSession&) = delete;
    PeerSession& operator=(const PeerSession&) = delete;

    void start();
    // Closes the connection and tells the owner (once). `quiet` skips the log line (pause, done).
    void close(std::string_view reason, bool quiet = false);
    // Closes it as the peer's fault (the owner waits before trying that address again).
    void fail(std::string_view reason);
    // Endgame: another peer delivered this block first; withdraw our request for it.
    void cancel(const BlockRequest& block);
    // Tops up the request pipeline from the picker.
    void request_more();
    // We verified a piece: tell the peer (BEP 3 have), so it can fetch it from us.
    void send_have(PieceIndex piece);
    // Sends our extended handshake with the owner's current ticket (BEP 10 allows repeating it).
    void send_ticket();

    State state() const { return state_; }
    PeerId id() const { return id_; }
    const net::Endpoint& address() const { return address_; }
    // Whether the session ended by a fault of the peer (not by us pausing or finishing).
    bool failed() const { return failed_; }
    double rate_bytes_per_second() const { return rate_; }
    std::size_t in_flight() const { return requested_.size(); }
    const std::deque<BlockRequest>& requested() const { return requested_; }
    bool choking_us() const { return choked_; }
    bool sealed() const { return seeder_key_.has_value(); }
    // Bytes of requested blocks delivered since the last call (for the owner's ranking).
    std::uint64_t take_delivered() { return std::exchange(delivered_bytes_, 0); }

private:
    void on_ready(net::Ready ready);
    void on_connected();
    void on_input();
    bool on_message(const wire::Message& m);  // false: the session closed
    void on_piece(const wire::Message& m);
    void drop_requests();
    // At most one deadline runs at a time: the one for what the session waits for now.
    enum class Deadline : std::uint8_t { None, Connect, Handshake, Unchoke, Block };
    void arm_deadline(Deadline which);
    void disarm_deadline();
    // Active: the block deadline while requests are out, the unchoke deadline while we want
    // pieces and are choked, none while the peer has nothing we want.
    void update_active_deadline();
    void flush();
    // Queues BEP 3 bytes for the peer (sealed into records on a sealed channel) and flushes.
    void send(std::string_view bytes);
    // Reads what the socket has into in_ (through the channel when sealed); false: closed.
    bool read_input();
    std::size_t target_in_flight() const;

    Downloader& owner_;
    PeerId id_;
    net::Endpoint address_;
    State state_ = State::Connecting;
    bool failed_ = false;
    net::Fd fd_;
    net::WatchId watch_ = 0;
    net::TimerId deadline_ = 0;
    Deadline armed_ = Deadline::None;
    std::optional<seal::Key> seeder_key_;
    std::optional<seal::Channel> channel_;
    net::Buffer wire_in_;  // sealed: records not yet opened
    net::Buffer in_;       // the peer's BEP 3 bytes
    net::Buffer out_;      // bytes for the socket (records when sealed)
    bool choked_ = true;
    bool interested_ = false;
    std::deque<BlockRequest> requested_;  // in the order sent; blocks mostly arrive in order
    net::Clock::time_point rate_window_start_{};
    std::uint64_t rate_window_bytes_ = 0;
    double rate_ = 0;
    std::uint64_t blocks_received_ = 0;
    std::uint64_t delivered_bytes_ = 0;
};

}  // namespace gs::peer
