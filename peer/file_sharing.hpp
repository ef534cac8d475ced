// FileSharing: the client's file commands (upload_file, list_files, stop_share, remove_file,
// open_share, download_file, show_downloads): it checks what the user typed, answers them, and
// runs the shares' lifecycle — hashing and uploading a file, serving it through the Uploader,
// announcing it to the tracker at login, stopping it — next to the Downloads it starts. Registers
// its commands with Commands and follows login, logout and leaving a group. Reactor thread only.
#pragma once

#include "peer/commands.hpp"
#include "peer/downloads.hpp"
#include "peer/shares.hpp"
#include "peer/tracker_client.hpp"
#include "peer/upload/uploader.hpp"
#include "shared/liveness.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/worker_pool.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gs::peer {

class FileSharing {
public:
    // upload_file reports hashing progress for files at least this large.
    static constexpr std::int64_t kProgressFromBytes = 64 << 20;

    FileSharing(net::EventLoop& loop, TrackerClient& tracker, Commands& commands,
                WorkerPool& workers, net::Fd listener, std::filesystem::path data_dir);
    // Our sealed-channel key for both sides (serving and downloading), and whether to speak
    // plain BEP 3 to groupshare peers instead (client --plain-peer-wire, benchmarks only).
    void set_peer_wire(const seal::KeyPair& key, bool plain) {
        uploader_.set_peer_wire(key, plain);
        downloads_.set_peer_wire(key, plain);
    }
    FileSharing(const FileSharing&) = delete;
    FileSharing& operator=(const FileSharing&) = delete;

    // Sharing or downloading: the client keeps running after its input ends.
    bool is_busy() const;

private:
    using Args = Commands::Args;
    using Done = Commands::Done;

    void register_commands();
    Downloads::Hooks download_hooks();
    void on_login(const std::string& user, std::string_view ticket_key);
    void on_logout();
    void on_left_group(const std::string& group);

    // --- sharing a file: upload_file, then hashing, then the tracker (with a proof if asked)
    void upload(const Args& a, Done done);
    void hash_and_upload(std::filesystem::path path, std::string group, Done done);
    HashProgress hashing_progress(const std::string& name);
    void on_hashed(std::filesystem::path path, std::string group, Result<proto::InfoDict> info,
                   double secs, Done done);
    void send_upload(std::filesystem::path path, std::string group, proto::InfoDict dict,
                     double secs, std::optional<std::string> proof, Done done);
    void prove_and_upload(std::filesystem::path path, std::string group, proto::InfoDict dict,
                          double secs, std::uint32_t piece, Done done);

    // --- the other file commands
    bool check_group_and_file(const std::string& group, const std::string& name);
    void remove_file(const Args& a, Done done);
    void list_files(const Args& a, Done done);
    void stop_share(const Args& a, Done done);
    // stop_share and remove_file: asks `op` about file a[1] of group a[0]; once the tracker
    // agrees, stops sharing it there and prints `line(the share, if still served elsewhere)`.
    void ask_and_unshare(std::string op, const Args& a,
                         std::function<std::string(const Share* still)> line, Done done);
    void open_share(const Args& a, Done done);
    void download(const Args& a, Done done);
    std::optional<std::filesystem::path> download_destination(const std::string& typed,
                                                              const std::string& name);
    void start_download(const std::string& group, const std::string& name,
                        const std::filesystem::path& dest, const proto::Value& reply);
    std::optional<std::string> why_not_download(const std::string& group,
                                                const proto::InfoDict& info) const;
    void show_downloads(const Args& a, Done done);

    // --- the shares
    const Share* unshare(const std::string& group, const std::string& name);
    void on_share_changed(const Sha1Digest& info_hash);
    // Where the Share of a running download learns which pieces it may serve.
    Status serve_partial(const Downloader& d);
    void share_download(const Downloader& d);
    void announce_shares();
    void save_shares();
    std::string shares_path() const;

    net::EventLoop& loop_;
    TrackerClient& tracker_;
    Commands& commands_;
    WorkerPool& workers_;
    std::filesystem::path data_dir_;
    wire::PeerIdBytes peer_id_;
    Shares shares_;
    Uploader uploader_;
    Downloads downloads_;
    std::string user_;
    Liveness life_;  // last: tracker replies and hashing results see it gone first
};

}  // namespace gs::peer
