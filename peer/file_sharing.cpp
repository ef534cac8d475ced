#include "peer/file_sharing.hpp"

#include "shared/ids.hpp"
#include "shared/log.hpp"
#include "shared/net/socket.hpp"
#include "shared/sha1.hpp"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace gs::peer {

namespace fs = std::filesystem;

namespace {
constexpr auto kPeerRefreshInterval = std::chrono::seconds(5);

std::string make_peer_id() {
    std::string id = "-GS0001-";  // Azureus-style client prefix
    unsigned char random[12];
    randombytes_buf(random, sizeof random);
    id.append(reinterpret_cast<char*>(random), sizeof random);
    return id;
}

std::string human_bytes(std::int64_t n) {
    if (n >= (1 << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(n) / (1 << 30));
    if (n >= (1 << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1 << 20));
    if (n >= (1 << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1 << 10));
    return fmt::format("{} B", n);
}
}  // namespace

FileSharing::FileSharing(net::EventLoop& loop, TrackerClient& tracker, Commands& commands,
                         WorkerPool& workers, net::Fd listener, fs::path data_dir)
    : loop_(loop),
      tracker_(tracker),
      commands_(commands),
      workers_(workers),
      data_dir_(std::move(data_dir)),
      peer_id_(make_peer_id()),
      uploader_(loop, std::move(listener), shares_, peer_id_) {
    register_commands();
    commands_.set_session_hooks({[this](const std::string& u) { on_login(u); }, [this] { on_logout(); }});
    refresh_timer_ = loop_.after(kPeerRefreshInterval, [this] { refresh_peers(); });
}

FileSharing::~FileSharing() {
    loop_.cancel(refresh_timer_);
    downloads_.clear();
}

bool FileSharing::is_busy() const {
    if (user_.empty()) return false;
    if (shares_.size() > 0) return true;
    for (const auto& d : downloads_) {
        if (d->state() == Downloader::State::Downloading) return true;
    }
    return false;
}

void FileSharing::save_shares() {
    if (user_.empty()) return;
    auto st = shares_.save((data_dir_ / (user_ + ".shares")).string());
    if (!st) log::warn("{}", st.error().message);
}

void FileSharing::on_login(const std::string& user) {
    user_ = user;
    std::vector<std::string> dropped;
    auto st = shares_.load((data_dir_ / (user_ + ".shares")).string(), dropped);
    if (!st) commands_.say(fmt::format("error: {}", st.error().message));
    for (const auto& d : dropped) {
        commands_.say(fmt::format("stopped sharing {}: the file changed or went away since it was "
                                  "shared",
                                  d));
    }
    if (!dropped.empty()) save_shares();
    for (auto& d : downloads_) {
        if (d->state() == Downloader::State::Paused) {
            d->resume();
            shares_.add(d->group(), d->info(), d->store().part_path(), &d->store().verified());
        }
    }
    uploader_.set_serving(true);
    refresh_peers();
}

void FileSharing::on_logout() {
    uploader_.set_serving(false);
    for (auto& d : downloads_) d->pause();
    shares_.clear();
    user_.clear();
}

std::vector<net::Endpoint> FileSharing::peers_from(const proto::Value& reply) const {
    std::vector<net::Endpoint> out;
    if (const proto::List* peers = reply.get_list("peers")) {
        for (const auto& p : *peers) {
            auto addr = p.get_string("addr");
            if (!addr) continue;
            if (auto ep = net::parse_endpoint(*addr, false)) out.push_back(*ep);
        }
    }
    return out;
}

void FileSharing::refresh_peers() {
    loop_.cancel(refresh_timer_);
    refresh_timer_ = loop_.after(kPeerRefreshInterval, [this] { refresh_peers(); });
    if (user_.empty()) return;
    for (auto& d : downloads_) {
        if (d->state() != Downloader::State::Downloading) continue;
        Downloader* raw = d.get();
        tracker_.request({{"op", "get_file"}, {"group", d->group()}, {"name", d->info().name}},
                         [this, raw](Result<proto::Value> reply) {
                             for (auto& live : downloads_) {
                                 if (live.get() == raw && reply) raw->add_peers(peers_from(*reply));
                             }
                         });
    }
}

void FileSharing::register_commands() {
    commands_.add("upload_file", {"upload_file <file_path> <group_id>", "share a file with a group", 2,
                                  true, [this](const Commands::Args& a, Commands::Done d) { upload(a, std::move(d)); }});
    commands_.add("list_files", {"list_files <group_id>", "files shared in a group", 1, true,
                                 [this](const Commands::Args& a, Commands::Done done) {
                                     if (!is_valid_id(a[0])) {
                                         commands_.fail(fmt::format("invalid group id '{}': use 1-64 letters, digits, '.', '_' or '-'", printable(a[0])));
                                         return done();
                                     }
                                     commands_.ask({{"op", "list_files"}, {"group", a[0]}},
                                                   [this, g = a[0]](const proto::Value& reply) {
                                                       const proto::List* files = reply.get_list("files");
                                                       if (files == nullptr || files->empty()) {
                                                           commands_.say(fmt::format("(no files shared in group {})", g));
                                                           return;
                                                       }
                                                       for (const auto& f : *files) {
                                                           commands_.say(fmt::format(
                                                               "{}  {}  seeders={}  online={}",
                                                               f.get_string("name").value_or("?"),
                                                               human_bytes(f.get_int("length").value_or(0)),
                                                               f.get_int("seeders").value_or(0),
                                                               f.get_int("online").value_or(0)));
                                                       }
                                                   },
                                                   std::move(done));
                                 }});
    commands_.add("stop_share", {"stop_share <group_id> <file_name>", "stop sharing a file", 2, true,
                                 [this](const Commands::Args& a, Commands::Done done) {
                                     commands_.ask({{"op", "stop_share"}, {"group", a[0]}, {"name", a[1]}},
                                                   [this, g = a[0], n = a[1]](const proto::Value&) {
                                                       shares_.remove(g, n);
                                                       save_shares();
                                                       commands_.say(fmt::format("stopped sharing {} in group {}", n, g));
                                                   },
                                                   std::move(done));
                                 }});
    commands_.add("download_file", {"download_file <group_id> <file_name> <destination_path>",
                                    "download a file in the background", 3, true,
                                    [this](const Commands::Args& a, Commands::Done d) { download(a, std::move(d)); }});
    commands_.add("show_downloads", {"show_downloads", "downloads of this session: [D] running, [C] complete", 0,
                                     false, [this](const Commands::Args&, Commands::Done d) { show_downloads(std::move(d)); }});
}

void FileSharing::upload(const Commands::Args& a, Commands::Done done) {
    std::error_code ec;
    fs::path path = fs::absolute(a[0], ec);
    const std::string& group = a[1];
    if (!is_valid_id(group)) {
        commands_.fail(fmt::format("invalid group id '{}': use 1-64 letters, digits, '.', '_' or '-'", printable(group)));
        return done();
    }
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
    std::string name = path.filename().string();
    if (!is_valid_file_name(name)) {
        commands_.fail(fmt::format("cannot share '{}': the file name is not usable", printable(a[0])));
        return done();
    }
    // Check membership before spending time on hashing.
    tracker_.request({{"op", "list_files"}, {"group", group}}, [this, path, name, group, done](Result<proto::Value> reply) mutable {
        if (!reply) {
            commands_.fail(reply.error().message);
            return done();
        }
        unsigned threads = std::max(1u, std::thread::hardware_concurrency());
        workers_.submit([path, name, threads] { return proto::build_info(path.string(), name, threads); },
                        [this, path, group, done](Result<proto::InfoDict> info) mutable {
                            if (!info) {
                                commands_.fail(info.error().message);
                                return done();
                            }
                            proto::InfoDict dict = std::move(info).value();
                            std::string bencoded = dict.bencoded;
                            commands_.ask({{"op", "upload_file"}, {"group", group}, {"info", bencoded}},
                                          [this, path, group, dict](const proto::Value&) {
                                              auto st = shares_.add(group, dict, path.string());
                                              if (!st) {
                                                  commands_.fail(st.error().message);
                                                  return;
                                              }
                                              save_shares();
                                              commands_.say(fmt::format("shared {} in group {}  ({}, {} pieces, info hash {})",
                                                                        dict.name, group, human_bytes(dict.length),
                                                                        dict.piece_count(), to_hex(dict.info_hash)));
                                          },
                                          std::move(done));
                        });
    });
}

void FileSharing::download(const Commands::Args& a, Commands::Done done) {
    const std::string& group = a[0];
    const std::string& name = a[1];
    if (!is_valid_id(group)) {
        commands_.fail(fmt::format("invalid group id '{}': use 1-64 letters, digits, '.', '_' or '-'", printable(group)));
        return done();
    }
    if (!is_valid_file_name(name)) {
        commands_.fail(fmt::format("invalid file name '{}'", printable(name)));
        return done();
    }
    std::error_code ec;
    fs::path dest = fs::absolute(a[2], ec);
    if (fs::is_directory(dest, ec)) {
        dest /= name;
    } else if (!fs::is_directory(dest.parent_path(), ec)) {
        commands_.fail(fmt::format("cannot download to '{}': {} is not a directory", printable(a[2]),
                                   dest.parent_path().string()));
        return done();
    }
    if (fs::exists(fs::symlink_status(dest, ec))) {
        commands_.fail(fmt::format("{} already exists; choose another destination", dest.string()));
        return done();
    }
    for (const auto& d : downloads_) {
        if (d->destination() == dest.string() && d->state() != Downloader::State::Complete) {
            commands_.fail(fmt::format("{} is already being downloaded", dest.string()));
            return done();
        }
    }
    commands_.ask({{"op", "get_file"}, {"group", group}, {"name", name}},
                  [this, group, name, dest](const proto::Value& reply) {
                      auto info = proto::parse_info(reply.get_string("info").value_or(""));
                      if (!info || info->name != name) {
                          commands_.fail("the tracker sent an unusable description of the file");
                          return;
                      }
                      auto store = PieceStore::open(dest.string(), *info);
                      if (!store) {
                          commands_.fail(store.error().message);
                          return;
                      }
                      auto peers = peers_from(reply);
                      Downloader* raw = nullptr;
                      Downloader::Callbacks cb;
                      std::string raw_hash = digest_bytes(info->info_hash);
                      cb.on_piece_verified = [this, raw_hash](std::uint32_t piece) {
                          uploader_.announce_have(raw_hash, piece);
                      };
                      cb.on_finished = [this, group, name, dest, raw_hash, info = *info](Status result) {
                          if (!result) {
                              commands_.say(fmt::format("error: download of {} from group {} failed: {}", name, group,
                                                        result.error().message));
                              shares_.remove(group, name);
                              return;
                          }
                          commands_.say(fmt::format("[C] [{}] {}  -> {}", group, name, dest.string()));
                          shares_.add(group, info, dest.string());
                          save_shares();
                          tracker_.request({{"op", "add_seeder"}, {"group", group}, {"info_hash", to_hex(info.info_hash)}},
                                           [](Result<proto::Value>) {});
                      };
                      auto d = std::make_unique<Downloader>(loop_, group, *info, dest.string(),
                                                            std::move(store).value(), peer_id_, std::move(cb));
                      raw = d.get();
                      shares_.add(group, *info, raw->store().part_path(), &raw->store().verified());
                      downloads_.push_back(std::move(d));
                      commands_.say(fmt::format("downloading {} from group {} to {}  ({}, {} peer(s))", name,
                                                group, dest.string(), human_bytes(info->length), peers.size()));
                      raw->add_peers(peers);
                  },
                  std::move(done));
}

void FileSharing::show_downloads(Commands::Done done) {
    if (downloads_.empty()) {
        commands_.say("(no downloads in this session)");
        return done();
    }
    for (const auto& d : downloads_) {
        char tag = d->state() == Downloader::State::Complete ? 'C' : 'D';
        commands_.say(fmt::format("[{}] [{}] {}  {}", tag, d->group(), d->info().name, d->progress_text()));
    }
    done();
}

}  // namespace gs::peer
