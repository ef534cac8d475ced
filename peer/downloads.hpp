// Downloads: the client's registry of downloads — the Downloaders of this session in start
// order, and their record on disk (<data dir>/<user>.downloads), so that a client killed
// mid-download continues after the next login. Starts downloads, restores them at login, pauses
// them at logout, asks the tracker for their peers every kPeerRefreshInterval and reports each
// one's end. What a download means for the shares (serving its verified pieces, sharing the
// finished file) is left to its owner, FileSharing, through Hooks. Reactor thread only.
#pragma once

#include "peer/download/downloader.hpp"
#include "peer/tracker_client.hpp"
#include "shared/liveness.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/result.hpp"
#include "shared/worker_pool.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gs::peer {

class Downloads {
public:
    // Peers of running downloads are asked for again this often (new seeders, renewed addresses).
    static constexpr auto kPeerRefreshInterval = std::chrono::seconds(3);

    struct Hooks {
        // One line for the user.
        std::function<void(std::string_view line)> say;
        // A download started or resumed: its verified pieces may be served meanwhile.
        std::function<Status(const Downloader& d)> serve_partial;
        std::function<void(const Sha1Digest& info_hash, PieceIndex piece)> on_piece_verified;
        // The file is in place at its destination (after the "[C]" line).
        std::function<void(const Downloader& d)> on_complete;
    };
    // Why a download must not start (nullopt: it may); asked for each one restored from disk.
    using Admission = std::function<std::optional<std::string>(const std::string& group,
                                                               const proto::InfoDict& info)>;

    Downloads(net::EventLoop& loop, WorkerPool& workers, TrackerClient& tracker,
              wire::PeerIdBytes peer_id, std::filesystem::path data_dir, Hooks hooks);
    // Pauses every download, which makes its resume state durable.
    ~Downloads();
    Downloads(const Downloads&) = delete;
    Downloads& operator=(const Downloads&) = delete;

    // Login: resumes the downloads paused at logout, then starts those recorded for `user`
    // that are not running and that `admit` lets through (saying why for the others).
    void login(const std::string& user, const Admission& admit);
    // Logout: pauses every download and records the unfinished ones.
    void logout();
    // Stops (and forgets) the unfinished downloads of `group`; the partial files stay. The
    // caller saves the record.
    void leave_group(const std::string& group);

    // Starts downloading `info` from `group` into `dest`; says so, or why it cannot. With the
    // tracker's get_file reply it connects to the peers listed there and shows them its
    // ticket; without (a download restored from the record), peers come with the next refresh.
    // Returns the download, or nullptr.
    Downloader* start(const std::string& group, proto::InfoDict info, const std::string& dest,
                      const proto::Value* tracker_reply);
    // Writes the record of the unfinished downloads (nothing while logged out).
    void save();
    // Asks the tracker for the peers (and a fresh ticket) of every running download, and tries
    // again a download paused by a disk problem.
    void refresh_peers();

    // Our sealed-channel key for the downloads started from now on, and whether to speak plain
    // BEP 3 to every seeder instead (client --plain-peer-wire, for benchmarks only).
    void set_peer_wire(const seal::KeyPair& key, bool plain) {
        channel_key_ = key;
        plain_peer_wire_ = plain;
    }

    // A download into `dest` that has not completed, if any.
    const Downloader* unfinished_to(const std::string& dest) const;
    // A running or paused download of `info_hash`, if any.
    const Downloader* in_progress(const Sha1Digest& info_hash) const;
    bool any_running() const;
    const std::vector<std::unique_ptr<Downloader>>& all() const { return downloads_; }

private:
    // Starts the downloads recorded in the user's file (left by a crash or a logout).
    void restore(const Admission& admit);
    void on_error(Downloader& d, const Error& e);
    void finish(Downloader& d);
    std::string record_path() const;
    std::vector<PeerAddress> peers_of(const proto::Value& reply);

    net::EventLoop& loop_;
    WorkerPool& workers_;
    TrackerClient& tracker_;
    seal::KeyPair channel_key_;
    bool plain_peer_wire_ = false;
    std::set<std::string> unsealed_peers_;  // said once each: no key from the tracker
    wire::PeerIdBytes peer_id_;
    std::filesystem::path data_dir_;
    Hooks hooks_;
    std::string user_;                                          // empty while logged out
    std::vector<std::unique_ptr<Downloader>> downloads_;        // this session's, in start order
    std::map<const Downloader*, std::string> reported_errors_;  // last problem said per download
    net::TimerId refresh_timer_ = 0;
    Liveness life_;  // last: tracker replies see it gone first
};

}  // namespace gs::peer
