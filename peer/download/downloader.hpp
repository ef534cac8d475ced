// Downloader: one file being downloaded. Owns a PeerSession per peer (up to kMaxPeers, all on the
// reactor thread), one PiecePicker (the one record of which blocks and pieces are in: it decides
// when a piece is complete and holds the verified set) and one PieceStore (the bytes on disk).
// Has every complete piece checked with SHA1 before it is written, announces verified pieces to
// its peers and (through on_piece_verified) to the serving side, answers which pieces are
// verified (has_piece, verified_pieces), keeps peers that send bad data away from the pieces
// they spoiled and drops those that keep doing it, and finishes by giving the file its final
// name. Owned by Downloads (peer/downloads.hpp), reactor thread only.
#pragma once

#include "peer/download/peer_ranking.hpp"
#include "peer/download/peer_session.hpp"
#include "peer/download/piece_picker.hpp"
#include "peer/download/piece_store.hpp"
#include "peer/wire/handshake.hpp"
#include "shared/liveness.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/proto/metainfo.hpp"
#include "shared/worker_pool.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gs::peer {

// A seeder as the tracker gives it: its address and, from a groupshare client, the public key of
// its sealed channel.
struct PeerAddress {
    net::Endpoint address;
    std::optional<seal::Key> key;
};

class Downloader {
public:
    // Seeders connected at once for one file.
    static constexpr std::size_t kMaxPeers = 32;
    // A peer that was the only source of this many pieces that failed SHA1 is dropped for good.
    static constexpr std::uint32_t kMaxStrikes = 2;
    // A peer whose connection failed is not tried again before this long.
    static constexpr auto kRetryDelay = std::chrono::seconds(10);
    // A peer dropped for being far slower than the others is not tried again before this long.
    static constexpr auto kSlowRetryDelay = std::chrono::seconds(60);

    enum class State { Downloading, Paused, Complete, Failed };

    struct Callbacks {
        std::function<void(PieceIndex piece)> on_piece_verified;
        std::function<void()> on_complete;           // the destination file is in place
        std::function<void(const Error&)> on_error;  // paused (disk trouble) or failed for good
    };

    // `workers` writes the resume state in the background (fdatasync must not stall the loop).
    Downloader(net::EventLoop& loop, WorkerPool& workers, std::string group, PieceStore store,
               wire::PeerIdBytes our_id, Callbacks callbacks, SessionDeadlines deadlines = {},
               RankingLimits ranking = {});
    ~Downloader();
    Downloader(const Downloader&) = delete;
    Downloader& operator=(const Downloader&) = delete;

    void set_callbacks(Callbacks callbacks) { callbacks_ = std::move(callbacks); }
    // The tracker's ticket for this file (get_file), shown to every seeder in our extended
    // handshake. Connected seeders get the newest one once the ticket they hold has less than
    // half of its lifetime left (the lifetime it had when we got it), or when the newest is of
    // a later membership epoch (the old one is refused from then on).
    void set_ticket(std::string ticket, std::int64_t expires);
    const std::string& ticket() const { return ticket_; }
    // Connects to the addresses it has no session with yet (up to kMaxPeers); `self` is skipped.
    // A peer with a key gets a sealed channel (our key: set_channel_key); one without, plain
    // BEP 3 (Downloads decides who may go without).
    void add_peers(const std::vector<PeerAddress>& peers);
    void add_peers(const std::vector<net::Endpoint>& peers);  // plain BEP 3 to each
    void set_channel_key(const seal::KeyPair& key) { channel_key_ = key; }
    const seal::KeyPair& channel_key() const { return channel_key_; }
    void pause();   // closes every session and makes the resume state durable
    void resume();  // back to Downloading; peers come with the next add_peers

    State state() const { return state_; }
    const std::string& group() const { return group_; }
    const proto::InfoDict& info() const { return store_.info(); }
    const PieceStore& store() const { return store_; }
    // Whether a piece is verified: checked with SHA1 and written to the partial file.
    bool has_piece(PieceIndex piece) const { return picker_.has_piece(piece); }
    // The same question for someone who may outlive this download (its Share): the answer is
    // false for every piece once the download is gone.
    std::function<bool(PieceIndex)> verified_pieces() const;
    const std::string& last_error() const { return last_error_; }
    std::size_t peer_count() const { return sessions_.size(); }
    // Complete pieces whose check and write on a worker have not answered yet.
    std::size_t pieces_being_verified() const { return verifying_; }
    double rate_bytes_per_second() const;
    double percent_done() const;
    double seconds_elapsed() const;
    std::string progress_text() const;

    // --- for PeerSession
    net::EventLoop& loop() { return loop_; }
    const wire::Handshake& handshake() const { return handshake_; }
    const SessionDeadlines& deadlines() const { return deadlines_; }
    PiecePicker& picker() { return picker_; }
    // One of the fastest peers: it may join any endgame block (PiecePicker::pick).
    bool is_fast(PeerId peer) const { return ranking_.is_fast(peer); }
    void on_peer_bitfield(PeerSession& s, const Bitfield& has);
    void on_peer_have(PeerSession& s, PieceIndex piece);
    void on_block(PeerSession& s, PieceIndex piece, std::uint32_t begin, std::string_view data);
    void on_session_closed(PeerSession& s);

private:
    // Every block of the piece is in: check it, then record it or fetch it again.
    void verify_piece(PieceIndex piece);
    void on_verdict(PieceIndex piece, Result<PieceStore::Verdict> verdict);
    // The piece failed its SHA1 check: its senders are blamed, the picker hands it out again.
    void refetch_piece(PieceIndex piece);
    void finish();
    void save_in_background();
    void save_now();
    void stop_sessions(std::string_view why);
    void pause_with_error(Error error);
    void top_up_all();
    // Every RankingLimits::tick: samples each peer's delivered rate and drops outliers.
    void on_rank_tick();
    void arm_rank_tick();
    // Whether fast peers other than `slow` have every piece `slow` has requests out for.
    bool others_can_serve(const PeerSession& slow) const;

    net::EventLoop& loop_;
    WorkerPool& workers_;
    std::string group_;
    PieceStore store_;
    PiecePicker picker_;
    // Complete pieces being checked and written on a worker (verify_piece).
    static constexpr std::size_t kMaxVerifying = 4;
    std::size_t verifying_ = 0;
    wire::Handshake handshake_;
    seal::KeyPair channel_key_;
    Callbacks callbacks_;
    SessionDeadlines deadlines_;
    State state_ = State::Downloading;
    std::uint32_t next_peer_ = 1;
    std::map<PeerId, std::unique_ptr<PeerSession>> sessions_;
    std::set<std::string> banned_;                               // kept sending bad data
    std::map<std::string, net::Clock::time_point> retry_after_;  // connection failed recently
    net::Clock::time_point started_;
    net::Clock::time_point finished_at_{};
    std::uint64_t verified_bytes_ = 0;  // this session, for the average rate
    std::string last_error_;
    bool saving_ = false;             // a state save runs on a worker
    bool save_again_ = false;         // ... and a newer one, written meanwhile, must follow it
    bool finish_after_save_ = false;  // ... and the download is complete
    std::string ticket_;              // the newest
    std::int64_t ticket_expires_ = 0;
    std::int64_t ticket_lifetime_ = 0;  // its expiry less the time we got it
    std::int64_t ticket_epoch_ = 0;
    // The one last sent to the connected seeders (new connections send the newest).
    std::string sent_ticket_;
    std::int64_t sent_expires_ = 0;
    std::int64_t sent_lifetime_ = 0;
    std::int64_t sent_epoch_ = 0;
    PeerRanking ranking_;
    RankingLimits ranking_limits_;
    net::TimerId rank_timer_ = 0;
    net::Clock::time_point last_rank_tick_{};
    Liveness life_;  // last: deferred tasks and worker answers check it
};

}  // namespace gs::peer
