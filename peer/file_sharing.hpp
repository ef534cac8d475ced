// FileSharing: the client's file commands (upload_file, list_files, stop_share, remove_file,
// download_file, show_downloads) and what they drive — the Shares served by the Uploader and
// the Downloaders, all on the reactor thread next to each other. Registers its commands with
// Commands and follows login, logout and leaving a group. Downloads in progress are remembered
// per user on disk, so a client killed mid-download continues after the next login. Reactor
// thread only.
#pragma once

#include "peer/commands.hpp"
#include "peer/download/downloader.hpp"
#include "peer/shares.hpp"
#include "peer/tracker_client.hpp"
#include "peer/upload/uploader.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/worker_pool.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gs::peer {

class FileSharing {
public:
    // Peers of running downloads are asked for again this often (new seeders, renewed addresses).
    static constexpr auto kPeerRefreshInterval = std::chrono::seconds(3);
    // upload_file reports hashing progress for files at least this large.
    static constexpr std::int64_t kProgressFromBytes = 64 << 20;

    FileSharing(net::EventLoop& loop, TrackerClient& tracker, Commands& commands,
                WorkerPool& workers, net::Fd listener, std::filesystem::path data_dir);
    ~FileSharing();
    FileSharing(const FileSharing&) = delete;
    FileSharing& operator=(const FileSharing&) = delete;

    // Sharing or downloading: the client keeps running after its input ends.
    bool is_busy() const;

private:
    void register_commands();
    void on_login(const std::string& user, std::string_view ticket_key);
    void on_logout();
    void on_left_group(const std::string& group);

    void upload(const Commands::Args& a, Commands::Done done);
    void hash_and_upload(std::filesystem::path path, std::string group, Commands::Done done);
    void send_upload(std::filesystem::path path, std::string group, proto::InfoDict dict,
                     double secs, std::optional<std::string> proof, Commands::Done done);
    void prove_and_upload(std::filesystem::path path, std::string group, proto::InfoDict dict,
                          double secs, std::uint32_t piece, Commands::Done done);
    void remove_file(const Commands::Args& a, Commands::Done done);
    void list_files(const Commands::Args& a, Commands::Done done);
    void stop_share(const Commands::Args& a, Commands::Done done);
    void open_share(const Commands::Args& a, Commands::Done done);
    void download(const Commands::Args& a, Commands::Done done);
    std::optional<std::string> why_not_download(const std::string& group,
                                                const proto::InfoDict& info) const;
    const Share* unshare(const std::string& group, const std::string& name);
    void on_share_changed(const Sha1Digest& info_hash);
    void start_download(const std::string& group, proto::InfoDict info, const std::string& dest,
                        const std::vector<net::Endpoint>& peers, bool resumed);
    void show_downloads(Commands::Done done);

    void on_download_complete(Downloader& d);
    void refresh_peers();
    void announce_shares();
    void restore_downloads();
    void save_shares();
    void save_downloads();
    std::string user_file(std::string_view suffix) const;

    net::EventLoop& loop_;
    TrackerClient& tracker_;
    Commands& commands_;
    WorkerPool& workers_;
    std::filesystem::path data_dir_;
    wire::PeerIdBytes peer_id_;
    Shares shares_;
    Uploader uploader_;
    std::vector<std::unique_ptr<Downloader>> downloads_;  // this session's, in start order
    net::TimerId refresh_timer_ = 0;
    std::map<const Downloader*, std::string> reported_errors_;  // last problem said per download
    std::string user_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // for tracker replies
};

}  // namespace gs::peer
