// Uploader: the serving side. Owns the client's listening socket and one UploadSession per
// incoming connection (BEP 3): a handshake for an info hash we share, our handshake and BEP 10
// extended handshake, then (once the peer's extended handshake shows a valid ticket for a group
// the file is shared in) our bitfield, unchoke, and blocks of verified pieces. An open share
// skips the ticket. Connections that have not shown a ticket yet wait in a small pool of their
// own, so they can never take the slots of admitted ones. Requests wait in a bounded queue.
//
// A groupshare downloader opens a sealed channel (peer/seal/channel.hpp; its first byte tells it
// from BEP 3's): the BEP 3 stream runs inside it, its ticket must name the key the channel's
// handshake proved, and blocks are read from the file straight into a record's body and
// encrypted there, several to a record. A plain BEP 3 peer is served only for an open share
// (other BitTorrent clients), each block as its 13-byte header then sendfile(2) from the file,
// so those bytes never pass through our memory. Reactor thread only.
#pragma once

#include "peer/seal/channel.hpp"
#include "peer/shares.hpp"
#include "peer/wire/wire.hpp"
#include "shared/liveness.hpp"
#include "shared/net/buffer.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/net/fd.hpp"
#include "shared/net/socket.hpp"
#include "shared/result.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

namespace gs::peer {

class Uploader;

// What one client gives the peers that download from it (SECURITY.md "Limits"). Tests shorten
// the timeouts; the client runs with the defaults.
struct UploadLimits {
    // Admitted connections: they showed a valid ticket (or their file is an open share).
    std::size_t max_sessions = 256;
    // One address cannot take every slot; a downloader opens one connection per file it fetches.
    std::size_t max_sessions_per_address = 32;
    // Connections still waiting for admission (no handshake or no ticket yet), counted apart.
    // When this pool is full, the oldest waiting connection of the address that holds the most
    // of them makes room for the new one: a flood of idle sockets from a few addresses cannot
    // keep a member out (he needs one connection for a round trip to show his ticket).
    std::size_t max_waiting_sessions = 16;
    std::size_t max_waiting_per_address = 4;  // past it, that address's new connection is refused
    // After its handshake, a connection to a share that is not open shows a ticket within this;
    // an admitted one shows a new ticket within this after the one it showed has expired.
    net::Clock::duration ticket_timeout = std::chrono::seconds(3);
    // The highest membership epoch is remembered for at most this many groups (those our
    // shares are in; more only if the shares changed meanwhile).
    std::size_t max_epoch_groups = 1024;
    std::size_t max_queued_requests = 1024;  // 16 MiB of blocks per connection
    net::Clock::duration handshake_timeout = std::chrono::seconds(10);
    // A connection that sends nothing for this long, with nothing left to send it, is closed.
    net::Clock::duration idle_timeout = std::chrono::seconds(180);
};

// Before its ticket a connection has no business sending more than its handshake and its
// extended handshake (at most kMaxExtendedBytes): what a waiting connection may buffer.
inline constexpr std::size_t kMaxInputBeforeTicket =
    wire::kHandshakeBytes + 4 + 2 + wire::kMaxExtendedBytes;
// The same on a sealed channel, on the wire: the channel's handshake messages, then those bytes
// in a few records.
inline constexpr std::size_t kMaxWireBeforeTicket = seal::kMessage1Bytes + seal::kMessage3Bytes +
                                                    kMaxInputBeforeTicket +
                                                    4 * seal::kRecordOverheadBytes;
// A seeder fills a sealed record with up to this many bytes of blocks and their headers.
inline constexpr std::size_t kSealedRecordTarget =
    8 * (wire::kPieceMessageHeaderBytes + wire::kBlockBytes);
static_assert(kSealedRecordTarget <= seal::kMaxRecordBytes);

class UploadSession {
public:
    UploadSession(Uploader& owner, std::uint64_t id, net::Fd fd, net::Endpoint peer);
    ~UploadSession();
    UploadSession(const UploadSession&) = delete;
    UploadSession& operator=(const UploadSession&) = delete;

    // Tells the peer we have a new piece, if it is talking to us about that file.
    void send_have(const Sha1Digest& info_hash, std::uint32_t piece);
    void close(std::string_view reason);
    bool is_closed() const { return closed_; }
    // Counted among the admitted connections (not the waiting ones).
    bool is_admitted() const { return admitted_; }
    const Sha1Digest& info_hash() const { return info_hash_; }
    const std::string& peer_host() const { return peer_host_; }
    std::uint64_t id() const { return id_; }
    const std::string& peer() const { return peer_; }  // "address:port"

private:
    struct Request {
        std::uint32_t piece, begin, length;
    };
    void on_ready(net::Ready ready);
    void on_input();
    bool on_handshake();  // false: closed
    bool handle(const wire::Message& m);
    bool on_extended_handshake(std::string_view body);  // false: closed
    // Open share, or a ticket that has not expired, for a group the file is still shared in,
    // and not issued before that group's latest membership change.
    bool may_serve(const Share& share) const;
    // Moves the connection to the admitted pool and sends the bitfield and unchoke; false (and
    // closed) when that pool is full.
    bool admit(const Share& share);
    // False (and the connection closed, the owner told) when the file changed since it was
    // shared; checked at the handshake and then at most once a second.
    bool file_unchanged(const Share& share);
    void pump();  // writes queued messages and blocks until the socket is full
    // Sealed: seals the next queued blocks into one record in out_; false: closed.
    bool seal_blocks(const Share& share);
    // Queues BEP 3 bytes for the peer: sealed into a record, or after the block being sent.
    void send(std::string_view bytes);
    // Reads the socket into in_ (through the channel when sealed); false: closed or nothing new.
    bool read_input();
    void update_interest();
    void arm_idle_check(net::Clock::duration after);
    // Once the ticket shown has expired, the connection has UploadLimits::ticket_timeout to
    // show a newer one (the downloader renews it well before); then it is closed, so that an
    // admitted slot is not kept with keep-alives by someone who can no longer get a ticket.
    void arm_ticket_check();

    Uploader& owner_;
    std::uint64_t id_;
    net::Fd fd_;
    std::string peer_;       // "address:port", for log lines
    std::string peer_host_;  // the address alone, for the per-address limit
    net::WatchId watch_ = 0;
    net::TimerId timer_ = 0;
    net::TimerId ticket_timer_ = 0;                             // arm_ticket_check
    enum class Wire : std::uint8_t { Unknown, Plain, Sealed };  // from the first byte
    Wire wire_ = Wire::Unknown;
    std::optional<seal::Channel> channel_;
    net::Buffer wire_in_;  // sealed: what the peer sent, not yet opened (and the first bytes)
    net::Buffer in_;       // the peer's BEP 3 bytes
    net::Buffer out_;  // plain: messages and the current sendfile block's header; sealed: records
    std::string after_block_;  // messages that came up while a block was being sent
    Sha1Digest info_hash_{};
    bool handshaken_ = false;
    bool unchoked_ = false;
    bool admitted_ = false;
    // The ticket shown: requests are served until it expires (Unix seconds), while the file is
    // shared in its group and no ticket of that group with a higher epoch has been seen.
    std::int64_t ticket_expires_ = 0;
    std::string ticket_group_;
    std::int64_t ticket_epoch_ = 0;
    bool closed_ = false;
    std::deque<Request> queue_;
    // The block being sent with sendfile: file offset and bytes still to go.
    off_t send_offset_ = 0;
    std::size_t send_left_ = 0;
    std::uint64_t served_bytes_ = 0;
    net::Clock::time_point last_input_{};
    net::Clock::time_point file_checked_{};
};

class Uploader {
public:
    Uploader(net::EventLoop& loop, net::Fd listener, Shares& shares, wire::PeerIdBytes peer_id,
             UploadLimits limits = {});
    ~Uploader();
    Uploader(const Uploader&) = delete;
    Uploader& operator=(const Uploader&) = delete;

    // While not serving (logged out) connections are refused and existing ones closed.
    void set_serving(bool serving);
    // Our sealed-channel key, and whether plain BEP 3 peers may fetch members' shares too
    // (client --plain-peer-wire, for benchmarks only; tickets are then not bound to a channel).
    void set_peer_wire(const seal::KeyPair& key, bool plain) {
        channel_key_ = key;
        plain_peer_wire_ = plain;
    }
    const seal::KeyPair& channel_key() const { return channel_key_; }
    bool plain_peer_wire() const { return plain_peer_wire_; }
    // The tracker's public key: a downloader must present a ticket it signed (SECURITY.md).
    void set_ticket_key(std::string key) { ticket_key_ = std::move(key); }
    const std::string& ticket_key() const { return ticket_key_; }
    bool is_serving() const { return serving_; }
    // Called (from the loop, not from inside a session) when a shared file is found changed on
    // disk since it was shared; the owner stops sharing it.
    void set_on_share_changed(std::function<void(const Sha1Digest&)> fn) {
        on_share_changed_ = std::move(fn);
    }
    // A download verified a piece: tell connected peers of that file.
    void announce_have(const Sha1Digest& info_hash, std::uint32_t piece);
    // Closes the connections for a file we stopped sharing.
    void drop_share(const Sha1Digest& info_hash);
    std::size_t session_count() const { return sessions_.size(); }

    // --- for UploadSession
    net::EventLoop& loop() { return loop_; }
    const UploadLimits& limits() const { return limits_; }
    Shares& shares() { return shares_; }
    const wire::PeerIdBytes& peer_id() const { return peer_id_; }
    // A closing session gives back its slot at once; it is destroyed after this event.
    void reap(std::uint64_t id);
    void report_changed(const Sha1Digest& info_hash);
    // Takes an admitted slot for a waiting session; false when the pool (or its address's
    // share of it) is full.
    bool admit(UploadSession& session);
    // A verified ticket's group and epoch: refused when the group's highest epoch seen is
    // newer; otherwise remembered as the highest.
    Status check_epoch(const std::string& group, std::int64_t epoch);
    // The highest membership epoch seen in a verified ticket of `group` (0: none).
    std::int64_t epoch_of(const std::string& group) const;
    std::size_t waiting_count() const { return waiting_.size(); }
    std::size_t admitted_count() const { return admitted_; }

private:
    void on_acceptable();
    void make_room_for(const std::string& newcomer);
    struct AddressSlots {
        std::size_t admitted = 0;
        std::size_t waiting = 0;
    };

    net::EventLoop& loop_;
    net::Fd listener_;
    net::WatchId watch_ = 0;
    Shares& shares_;
    wire::PeerIdBytes peer_id_;
    UploadLimits limits_;
    bool serving_ = false;
    std::string ticket_key_;
    seal::KeyPair channel_key_;
    bool plain_peer_wire_ = false;
    std::function<void(const Sha1Digest&)> on_share_changed_;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, std::unique_ptr<UploadSession>> sessions_;
    std::unordered_map<std::string, AddressSlots> per_address_;  // by IP, no port
    std::set<std::uint64_t> waiting_;  // ids of open waiting sessions; the smallest is the oldest
    std::size_t admitted_ = 0;
    std::unordered_map<std::string, std::int64_t> epochs_;  // group -> highest epoch seen
    Liveness life_;  // last: deferred tasks see it gone first
};

}  // namespace gs::peer
