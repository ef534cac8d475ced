// FileSharing: the client's file commands (upload_file, list_files, stop_share, download_file,
// show_downloads) and what they drive — the Shares served by the Uploader and the Downloaders.
// Registers its commands with Commands; follows login and logout. Reactor thread only.
#pragma once

#include "peer/commands.hpp"
#include "peer/download/downloader.hpp"
#include "peer/shares.hpp"
#include "peer/tracker_client.hpp"
#include "peer/upload/uploader.hpp"
#include "shared/worker_pool.hpp"

#include <filesystem>
#include <memory>
#include <vector>

namespace gs::peer {

class FileSharing {
public:
    FileSharing(net::EventLoop& loop, TrackerClient& tracker, Commands& commands,
                WorkerPool& workers, net::Fd listener, std::filesystem::path data_dir);
    ~FileSharing();

    bool is_busy() const;  // sharing or downloading: the client keeps running after stdin ends

private:
    void register_commands();
    void on_login(const std::string& user);
    void on_logout();
    void upload(const Commands::Args& a, Commands::Done done);
    void download(const Commands::Args& a, Commands::Done done);
    void show_downloads(Commands::Done done);
    void refresh_peers();
    void save_shares();
    std::vector<net::Endpoint> peers_from(const proto::Value& reply) const;

    net::EventLoop& loop_;
    TrackerClient& tracker_;
    Commands& commands_;
    WorkerPool& workers_;
    std::filesystem::path data_dir_;
    std::string peer_id_;
    Shares shares_;
    Uploader uploader_;
    std::vector<std::unique_ptr<Downloader>> downloads_;
    net::TimerId refresh_timer_ = 0;
    std::string user_;
};

}  // namespace gs::peer
