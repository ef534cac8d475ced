#include "peer/file_sharing.hpp"

#include "shared/ids.hpp"
#include "shared/log.hpp"
#include "shared/net/socket.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/sha1.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace gs::peer {

namespace fs = std::filesystem;

namespace {

// Paths in messages are quoted whole (printable() cuts at 80 bytes by default).
constexpr std::size_t kPathBytes = 4096;

}  // namespace

FileSharing::FileSharing(net::EventLoop& loop, TrackerClient& tracker, Commands& commands,
                         WorkerPool& workers, net::Fd listener, fs::path data_dir)
    : loop_(loop),
      tracker_(tracker),
      commands_(commands),
      workers_(workers),
      data_dir_(std::move(data_dir)),
      peer_id_(wire::random_peer_id()),
      uploader_(loop, std::move(listener), shares_, peer_id_),
      downloads_(loop, workers, tracker, peer_id_, data_dir_, download_hooks()) {
    register_commands();
    uploader_.set_on_share_changed([this](const Sha1Digest& h) { on_share_changed(h); });
    commands_.set_session_hooks({
        .on_login = [this](const std::string& u, std::string_view k) { on_login(u, k); },
        .on_logout = [this] { on_logout(); },
        .on_left_group = [this](const std::string& g) { on_left_group(g); },
    });
}

Downloads::Hooks FileSharing::download_hooks() {
    return {
        .say = [this](std::string_view line) { commands_.say(line); },
        .serve_partial = [this](const Downloader& d) { return serve_partial(d); },
        .on_piece_verified =
            [this](const Sha1Digest& info_hash, PieceIndex piece) {
                uploader_.announce_have(info_hash, piece.value);
            },
        .on_complete = [this](const Downloader& d) { share_download(d); },
    };
}

bool FileSharing::is_busy() const {
    if (user_.empty()) return false;
    if (shares_.size() > 0) return true;
    return downloads_.any_running();
}

std::string FileSharing::shares_path() const {
    return (data_dir_ / fmt::format("{}.shares", user_)).string();
}

void FileSharing::save_shares() {
    if (user_.empty()) return;
    if (auto st = shares_.save(shares_path()); !st) {
        commands_.say(fmt::format("error: {}", st.error().message));
    }
}

// --- session

void FileSharing::on_login(const std::string& user, std::string_view ticket_key) {
    user_ = user;
    uploader_.set_ticket_key(std::string(ticket_key));
    std::vector<std::string> dropped;
    if (auto st = shares_.load(shares_path(), dropped); !st) {
        commands_.say(fmt::format("error: {}", st.error().message));
    }
    for (const auto& d : dropped) {
        commands_.say(
            fmt::format("stopped sharing {}: the file changed or went away since it was "
                        "shared",
                        d));
    }
    if (!dropped.empty()) save_shares();
    downloads_.login(user, [this](const std::string& group, const proto::InfoDict& info) {
        return why_not_download(group, info);
    });
    uploader_.set_serving(true);
    announce_shares();
    downloads_.refresh_peers();
}

void FileSharing::on_logout() {
    uploader_.set_serving(false);
    downloads_.logout();
    shares_.clear();
    user_.clear();
}

void FileSharing::on_left_group(const std::string& group) {
    // A file shared in other groups too is still served there.
    for (const Sha1Digest& hash : shares_.remove_group(group)) uploader_.drop_share(hash);
    downloads_.leave_group(group);
    save_shares();
    downloads_.save();
}

// --- commands

void FileSharing::register_commands() {
    commands_.add("upload_file", {"upload_file <file_path> <group_id>", "share a file with a group",
                                  2, true, Commands::call(this, &FileSharing::upload)});
    commands_.add("list_files", {"list_files <group_id> [--bytes]",
                                 "files shared in a group; --bytes: exact sizes in bytes", 1, true,
                                 Commands::call(this, &FileSharing::list_files), "--bytes"});
    commands_.add("stop_share", {"stop_share <group_id> <file_name>", "stop sharing a file", 2,
                                 true, Commands::call(this, &FileSharing::stop_share)});
    commands_.add("remove_file", {"remove_file <group_id> <file_name>",
                                  "remove a file from a group you own, for every member", 2, true,
                                  Commands::call(this, &FileSharing::remove_file)});
    commands_.add("open_share",
                  {"open_share <group_id> <file_name>",
                   "also serve a share to peers without a ticket (other BitTorrent clients), "
                   "in clear: plain BitTorrent is not encrypted",
                   2, true, Commands::call(this, &FileSharing::open_share)});
    commands_.add("download_file", {"download_file <group_id> <file_name> <destination_path>",
                                    "download a file in the background", 3, true,
                                    Commands::call(this, &FileSharing::download)});
    commands_.add("show_downloads",
                  {"show_downloads", "this session's downloads: [D] running, [C] complete", 0,
                   false, Commands::call(this, &FileSharing::show_downloads)});
}

bool FileSharing::check_group_and_file(const std::string& group, const std::string& name) {
    if (!commands_.check_id("group id", group)) return false;
    if (is_valid_file_name(name)) return true;
    commands_.fail(fmt::format("invalid file name '{}'", printable(name)));
    return false;
}

void FileSharing::list_files(const Args& a, Done done) {
    if (!commands_.check_id("group id", a[0])) return done();
    const bool exact = a.size() == 2;  // --bytes, checked by Commands::run()
    commands_.ask_pages(
        {{"op", "list_files"}, {"group", a[0]}}, "files",
        [this, exact](const proto::Value& f) {
            const std::int64_t length = f.get_int("length").value_or(0);
            commands_.say(fmt::format(
                "{}  {}  seeders={}  online={}", printable(f.get_string("name").value_or("?"), 255),
                exact ? fmt::format("{} B", length) : human_bytes(length),
                f.get_int("seeders").value_or(0), f.get_int("online").value_or(0)));
        },
        [this, group = a[0]](std::size_t total) {
            if (total == 0) commands_.say(fmt::format("(no files shared in group {})", group));
        },
        std::move(done));
}

void FileSharing::ask_and_unshare(std::string op, const Args& a,
                                  std::function<std::string(const Share* still)> line, Done done) {
    if (!check_group_and_file(a[0], a[1])) return done();
    commands_.ask(
        {{"op", std::move(op)}, {"group", a[0]}, {"name", a[1]}},
        [this, group = a[0], name = a[1], line = std::move(line)](const proto::Value&) {
            const Share* still = unshare(group, name);
            save_shares();
            commands_.say(line(still));
        },
        std::move(done));
}

void FileSharing::stop_share(const Args& a, Done done) {
    ask_and_unshare(
        "stop_share", a,
        [group = a[0], name = a[1]](const Share* still) {
            if (still == nullptr) return fmt::format("stopped sharing {} in group {}", name, group);
            return fmt::format("stopped sharing {} in group {} (still shared in {})", name, group,
                               still->group_list());
        },
        std::move(done));
}

// The owner takes a file out of the group for every member (a squatter's fake, say); if we
// shared it there ourselves, we stop.
void FileSharing::remove_file(const Args& a, Done done) {
    ask_and_unshare(
        "remove_file", a,
        [group = a[0], name = a[1]](const Share*) {
            return fmt::format("removed {} from group {}", name, group);
        },
        std::move(done));
}

// Members prove themselves with the tracker's ticket; a BitTorrent client that is not ours has
// none. This lets one share serve anyone who knows our address and its info hash.
void FileSharing::open_share(const Args& a, Done done) {
    if (!commands_.check_id("group id", a[0])) return done();
    const Share* found = shares_.find_by_name(a[0], a[1]);
    if (found == nullptr || found->partial != nullptr) {
        commands_.fail(fmt::format("you are not sharing a complete file named '{}' in group {}",
                                   printable(a[1]), a[0]));
        return done();
    }
    shares_.find(found->info.info_hash)->open = true;
    save_shares();
    commands_.say(
        fmt::format("{} in group {} is now served to any peer, with or without a "
                    "ticket (info hash {}); peers that are not groupshare clients get it in "
                    "plain BitTorrent, unencrypted",
                    a[1], a[0], to_hex(found->info.info_hash)));
    done();
}

// --- upload_file

void FileSharing::upload(const Args& a, Done done) {
    const std::string& group = a[1];
    if (!commands_.check_id("group id", group)) return done();
    std::error_code ec;
    fs::path path = fs::absolute(a[0], ec);
    auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
        commands_.fail(fmt::format("cannot share '{}': no such file", printable(a[0])));
        return done();
    }
    if (!fs::is_regular_file(status)) {
        commands_.fail(fmt::format("cannot share '{}': not a regular file", printable(a[0])));
        return done();
    }
    if (::access(path.c_str(), R_OK) != 0) {
        commands_.fail(fmt::format("cannot share '{}': {}", printable(a[0]), std::strerror(errno)));
        return done();
    }
    if (!is_valid_file_name(path.filename().string())) {
        commands_.fail(fmt::format("cannot share '{}': unusable file name", printable(a[0])));
        return done();
    }
    // Membership first: a non-member should not wait for a gigabyte to be hashed.
    tracker_.request({{"op", "list_files"}, {"group", group}},
                     life_.guard([this, path, group,
                                  done = std::move(done)](Result<proto::Value> reply) mutable {
                         if (!reply) {
                             commands_.fail(reply.error().message);
                             return done();
                         }
                         hash_and_upload(std::move(path), std::move(group), std::move(done));
                     }));
}

void FileSharing::hash_and_upload(fs::path path, std::string group, Done done) {
    const std::string name = path.filename().string();
    std::error_code ec;
    const auto size = static_cast<std::int64_t>(fs::file_size(path, ec));
    HashProgress progress;
    if (!ec && size >= kProgressFromBytes) progress = hashing_progress(name);
    const auto started = loop_.now();
    workers_.submit(
        [path, name, progress]() -> Result<proto::InfoDict> {
            auto bencoded = proto::build_info(path.string(), name, 0, progress);
            if (!bencoded) return bencoded.error();
            return proto::parse_info(*bencoded);
        },
        life_.guard([this, path, group, started,
                     done = std::move(done)](Result<proto::InfoDict> info) mutable {
            const double secs = std::chrono::duration<double>(loop_.now() - started).count();
            on_hashed(std::move(path), std::move(group), std::move(info), secs, std::move(done));
        }));
}

// Progress lines come from the hashing threads; they are printed by the loop, one per 10%.
HashProgress FileSharing::hashing_progress(const std::string& name) {
    auto say = life_.guard([this, name](int tenth, std::int64_t done_bytes, std::int64_t total) {
        commands_.say(fmt::format("hashing {}: {}%  ({} of {})", name, tenth * 10,
                                  human_bytes(done_bytes), human_bytes(total)));
    });
    auto last_tenth = std::make_shared<std::atomic<int>>(0);
    return [&loop = loop_, say, last_tenth](std::int64_t done_bytes, std::int64_t total) {
        int tenth = total > 0 ? static_cast<int>(done_bytes * 10 / total) : 10;
        if (tenth >= 10 || tenth <= last_tenth->load()) return;
        last_tenth->store(tenth);
        loop.post([say, tenth, done_bytes, total]() mutable { say(tenth, done_bytes, total); });
    };
}

void FileSharing::on_hashed(fs::path path, std::string group, Result<proto::InfoDict> info,
                            double secs, Done done) {
    if (!info) {
        commands_.fail(fmt::format("cannot share '{}': {}", path.string(), info.error().message));
        return done();
    }
    proto::InfoDict dict = std::move(info).value();
    // The tracker would refuse it as "a different file"; we can say whose and what to do.
    const Share* mine = shares_.find_by_name(group, dict.name);
    if (mine != nullptr && mine->info.info_hash != dict.info_hash) {
        commands_.fail(fmt::format(
            "group '{}' already has a different file named '{}'; you share {}: "
            "stop_share {} {} first",
            group, dict.name,
            mine->path == path.string() ? std::string("an older version of it")
                                        : fmt::format("another file of that name (from {})",
                                                      printable(mine->path, kPathBytes)),
            group, dict.name));
        return done();
    }
    send_upload(std::move(path), std::move(group), std::move(dict), secs, std::nullopt,
                std::move(done));
}

// Sends upload_file. When the file is shared in another group already, the tracker answers
// with a challenge (`prove_piece`) instead: the piece it names is read from `path` and the
// request sent once more with it as `proof` (docs/protocol.md §1.3).
void FileSharing::send_upload(fs::path path, std::string group, proto::InfoDict dict, double secs,
                              std::optional<std::string> proof, Done done) {
    proto::Dict request{{"op", "upload_file"}, {"group", group}, {"info", dict.bencoded}};
    const bool proving = proof.has_value();
    if (proof) request["proof"] = std::move(*proof);
    tracker_.request(std::move(request), life_.guard([this, path, group, dict, secs, proving,
                                                      done = std::move(done)](
                                                         Result<proto::Value> reply) mutable {
        if (!reply) {
            if (reply.error().code == Errc::NotLoggedIn) commands_.on_session_lost();
            commands_.fail(reply.error().message);
            return done();
        }
        if (auto piece = reply->get_int("prove_piece")) {
            if (proving || *piece < 0 || *piece >= dict.piece_count()) {
                commands_.fail(
                    fmt::format("cannot share '{}': the tracker asked for an "
                                "unexpected proof (piece {}); try again",
                                dict.name, *piece));
                return done();
            }
            prove_and_upload(std::move(path), std::move(group), std::move(dict), secs,
                             static_cast<std::uint32_t>(*piece), std::move(done));
            return;
        }
        if (auto st = shares_.add(group, dict, path.string()); !st) {
            commands_.fail(st.error().message);
            return done();
        }
        save_shares();
        commands_.say(fmt::format(
            "shared {} in group {}  ({}, {} pieces, hashed in {:.2f} s, info hash {})", dict.name,
            group, human_bytes(dict.length), dict.piece_count(), secs, to_hex(dict.info_hash)));
        done();
    }));
}

// Reads piece `piece` of the file (off the reactor) and sends it as the upload's proof.
void FileSharing::prove_and_upload(fs::path path, std::string group, proto::InfoDict dict,
                                   double secs, std::uint32_t piece, Done done) {
    log::info("proving to the tracker that we have {} with piece {}", dict.name, piece);
    const std::int64_t offset = std::int64_t{piece} * dict.piece_length;
    const std::uint32_t size = dict.piece_size(piece);
    workers_.submit(
        [path, offset, size]() -> Result<std::string> {
            std::ifstream in(path, std::ios::binary);
            std::string bytes(size, '\0');
            if (!in.seekg(offset) || !in.read(bytes.data(), size)) {
                return make_error(Errc::Io, "the file could not be read");
            }
            return bytes;
        },
        life_.guard([this, path, group, dict, secs,
                     done = std::move(done)](Result<std::string> bytes) mutable {
            if (!bytes) {
                commands_.fail(
                    fmt::format("cannot share '{}': {}", path.string(), bytes.error().message));
                return done();
            }
            send_upload(std::move(path), std::move(group), std::move(dict), secs,
                        std::move(bytes).value(), std::move(done));
        }));
}

// --- download_file

void FileSharing::download(const Args& a, Done done) {
    const std::string& group = a[0];
    const std::string& name = a[1];
    if (!check_group_and_file(group, name)) return done();
    auto dest = download_destination(a[2], name);
    if (!dest) return done();
    commands_.ask(
        {{"op", "get_file"}, {"group", group}, {"name", name}},
        [this, group, name, dest = *dest](const proto::Value& reply) {
            start_download(group, name, dest, reply);
        },
        std::move(done));
}

// Where download_file writes `name` when the user typed `typed`: into it if it is a directory,
// else at that path. Nothing (after saying why) when that will not do.
std::optional<fs::path> FileSharing::download_destination(const std::string& typed,
                                                          const std::string& name) {
    std::error_code ec;
    fs::path dest = fs::absolute(typed, ec);
    if (fs::is_directory(dest, ec)) {
        dest /= name;
    } else if (!fs::is_directory(dest.parent_path(), ec)) {
        commands_.fail(fmt::format("cannot download to '{}': {} is not a directory",
                                   printable(typed), printable(dest.parent_path().string())));
        return std::nullopt;
    }
    if (fs::exists(fs::symlink_status(dest, ec))) {
        commands_.fail(
            fmt::format("{} already exists; choose another destination", printable(dest.string())));
        return std::nullopt;
    }
    if (downloads_.unfinished_to(dest.string()) != nullptr) {
        commands_.fail(fmt::format("{} is already being downloaded", printable(dest.string())));
        return std::nullopt;
    }
    return dest;
}

// The tracker's answer to get_file: the file's description, its seeders and our ticket.
void FileSharing::start_download(const std::string& group, const std::string& name,
                                 const fs::path& dest, const proto::Value& reply) {
    auto info = proto::parse_info(reply.get_string("info").value_or(""));
    if (!info || info->name != name) {
        commands_.fail(fmt::format("the tracker's description of {} is unusable{}", name,
                                   info ? "" : ": " + info.error().message));
        return;
    }
    if (auto why = why_not_download(group, *info)) {
        commands_.fail(*why);
        return;
    }
    downloads_.start(group, std::move(info).value(), dest.string(), &reply);
}

// Why a download of `info` into `group` must not start: we already serve the complete file (a
// partial one would replace it), or it is already being downloaded (two downloads of one info
// hash would share one partial share).
std::optional<std::string> FileSharing::why_not_download(const std::string& group,
                                                         const proto::InfoDict& info) const {
    if (const Share* s = shares_.find(info.info_hash); s != nullptr && s->partial == nullptr) {
        std::string why = fmt::format("you already share {} in {} (from {}); nothing to download",
                                      info.name, s->group_list(), printable(s->path, kPathBytes));
        if (!s->in_group(group)) {
            why += fmt::format(" (to share it in {} too: upload_file {} {})", group,
                               printable(s->path, kPathBytes), group);
        }
        return why;
    }
    if (const Downloader* d = downloads_.in_progress(info.info_hash)) {
        return fmt::format("{} is already being downloaded to {}", info.name,
                           printable(d->store().destination(), kPathBytes));
    }
    return std::nullopt;
}

void FileSharing::show_downloads(const Args&, Done done) {
    if (downloads_.all().empty()) {
        commands_.say("(no downloads in this session)");
        return done();
    }
    for (const auto& d : downloads_.all()) {
        char tag = d->state() == Downloader::State::Complete ? 'C' : 'D';
        commands_.say(
            fmt::format("[{}] [{}] {}  {}", tag, d->group(), d->info().name, d->progress_text()));
    }
    done();
}

// --- the shares

// Removes `group` from the share named `name`; the uploads of a file no longer shared at all
// end. Returns the share when it is still served in other groups.
const Share* FileSharing::unshare(const std::string& group, const std::string& name) {
    auto removed = shares_.remove(group, name);
    if (!removed) return nullptr;
    if (removed->last) {
        uploader_.drop_share(removed->info_hash);
        return nullptr;
    }
    return shares_.find(removed->info_hash);
}

// A file edited in place after it was shared would send pieces that fail their hashes: stop
// sharing it everywhere, and tell the tracker and the user.
void FileSharing::on_share_changed(const Sha1Digest& info_hash) {
    const Share* share = shares_.find(info_hash);
    if (share == nullptr || !share->changed_on_disk()) return;  // already handled
    const std::string name = share->info.name;
    const std::string path = share->path;
    const std::vector<std::string> groups = share->groups;
    for (const std::string& group : groups) {
        tracker_.request({{"op", "stop_share"}, {"group", group}, {"name", name}},
                         [](Result<proto::Value>) {});  // at worst it stays listed, offline
        unshare(group, name);
        commands_.say(
            fmt::format("stopped sharing {} in group {}: {} changed since you shared "
                        "it; upload_file it again to share the new version",
                        name, group, printable(path, kPathBytes)));
    }
    save_shares();
}

// Verified pieces of a running download are served at once, from the partial file.
Status FileSharing::serve_partial(const Downloader& d) {
    return shares_.add(d.group(), d.info(), d.store().part_path(), d.verified_pieces());
}

// From now on the finished file is shared in the group.
void FileSharing::share_download(const Downloader& d) {
    const std::string& group = d.group();
    const proto::InfoDict& info = d.info();
    if (auto st = shares_.add(group, info, d.store().destination()); !st) {
        commands_.say(fmt::format("error: cannot share the downloaded {}: {}", info.name,
                                  st.error().message));
        unshare(group, info.name);
    } else {
        tracker_.request(
            {{"op", "add_seeder"}, {"group", group}, {"info_hash", to_hex(info.info_hash)}},
            [](Result<proto::Value>) {});
    }
    save_shares();
}

// Tells the tracker, at login, that we seed our shares again at this client's address.
void FileSharing::announce_shares() {
    for (const auto& [hash, share] : shares_.all()) {
        if (share.partial != nullptr) continue;
        for (const std::string& group : share.groups) {
            // add_seeder, not upload_file: a file the group's owner removed stays removed.
            tracker_.request(
                {{"op", "add_seeder"}, {"group", group}, {"info_hash", to_hex(hash)}},
                life_.guard([this, group, name = share.info.name](Result<proto::Value> reply) {
                    if (reply) return;
                    const Errc code = reply.error().code;
                    if (code != Errc::Denied && code != Errc::NotFound &&
                        code != Errc::AlreadyExists) {
                        return;  // the link is down, not the share: announced at the next login
                    }
                    unshare(group, name);
                    save_shares();
                    commands_.say(fmt::format("stopped sharing {} in group {}: {}", name, group,
                                              reply.error().message));
                }));
        }
    }
}

}  // namespace gs::peer
