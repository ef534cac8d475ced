// Downloader: one file being downloaded. Owns its PeerSessions, one PiecePicker and one
// PieceStore; learns peers from the tracker (FileSharing asks again from time to time), checks
// every piece with SHA1 and announces it, and finishes by giving the file its final name.
// Owned by FileSharing, reactor thread only.
#pragma once

#include "peer/download/peer_session.hpp"
#include "peer/download/piece_picker.hpp"
#include "peer/download/piece_store.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/proto/metainfo.hpp"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace gs::peer {

class Downloader {
public:
    static constexpr std::size_t kMaxPeers = 32;
    static constexpr int kMaxBadPieces = 3;  // a peer that sends this many bad pieces is dropped

    enum class State { Downloading, Paused, Complete, Failed };

    struct Callbacks {
        std::function<void(std::uint32_t piece)> on_piece_verified;
        std::function<void(Status result)> on_finished;  // complete, or failed for good
    };

    Downloader(net::EventLoop& loop, std::string group, proto::InfoDict info,
               std::string destination, PieceStore store, std::string peer_id,
               Callbacks callbacks);
    ~Downloader();
    Downloader(const Downloader&) = delete;
    Downloader& operator=(const Downloader&) = delete;

    // Connects to addresses it is not connected to yet (up to kMaxPeers).
    void add_peers(const std::vector<net::Endpoint>& peers);
    void pause();
    void resume();

    State state() const { return state_; }
    const std::string& group() const { return group_; }
    const proto::InfoDict& info() const { return info_; }
    const std::string& destination() const { return destination_; }
    const PieceStore& store() const { return store_; }
    std::string progress_text() const;
    std::size_t peer_count() const { return sessions_.size(); }

    // Called by PeerSession.
    net::EventLoop& loop() { return loop_; }
    const std::string& peer_id() const { return peer_id_; }
    PiecePicker& picker() { return picker_; }
    void on_peer_bitfield(PeerSession& s);
    void on_peer_have(PeerSession& s, std::uint32_t piece);
    void on_block(PeerSession& s, std::uint32_t piece, std::uint32_t begin, std::string_view data);
    void on_session_closed(PeerSession& s);

private:
    void finish();
    void fail(Error error);

    net::EventLoop& loop_;
    std::string group_;
    proto::InfoDict info_;
    std::string destination_;
    PieceStore store_;
    PiecePicker picker_;
    std::string peer_id_;
    Callbacks callbacks_;
    State state_ = State::Downloading;
    PeerKey next_key_ = 1;
    std::map<PeerKey, std::unique_ptr<PeerSession>> sessions_;
    std::map<PeerKey, int> strikes_;
    std::set<std::string> banned_;  // addresses that kept sending bad data
    net::Clock::time_point started_;
    std::uint64_t downloaded_bytes_ = 0;
    std::string last_error_;
};

}  // namespace gs::peer
