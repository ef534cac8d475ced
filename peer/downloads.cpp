#include "peer/downloads.hpp"

#include "peer/commands.hpp"
#include "peer/shares.hpp"
#include "shared/log.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/sha1.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace gs::peer {

namespace {

void set_ticket_from(Downloader& d, const proto::Value& reply) {
    d.set_ticket(std::string(reply.get_string("ticket").value_or("")),
                 reply.get_int("ticket_expires").value_or(0));
}

}  // namespace

// The seeders of a get_file / get_peers reply. Sealed (the default), a seeder whose client gave
// the tracker no key is left out, with one log line: we never fall back to clear text.
std::vector<PeerAddress> Downloads::peers_of(const proto::Value& reply) {
    std::vector<PeerAddress> out;
    const proto::List* peers = reply.get_list("peers");
    if (peers == nullptr) return out;
    for (const auto& p : *peers) {
        auto addr = p.get_string("addr");
        if (!addr) continue;
        auto ep = net::parse_endpoint(*addr, false);
        if (!ep) continue;
        if (plain_peer_wire_) {
            out.push_back({*ep, std::nullopt});
            continue;
        }
        auto key = seal::key_from_hex(p.get_string("key").value_or(""));
        if (!key) {
            if (unsealed_peers_.size() < 1024 &&
                unsealed_peers_.insert(std::string(*addr)).second) {
                log::warn(
                    "peer {} gave the tracker no sealed-channel key; not connecting to it "
                    "in clear",
                    *addr);
            }
            continue;
        }
        out.push_back({*ep, *key});
    }
    return out;
}

Downloads::Downloads(net::EventLoop& loop, WorkerPool& workers, TrackerClient& tracker,
                     wire::PeerIdBytes peer_id, std::filesystem::path data_dir, Hooks hooks)
    : loop_(loop),
      workers_(workers),
      tracker_(tracker),
      peer_id_(peer_id),
      data_dir_(std::move(data_dir)),
      hooks_(std::move(hooks)) {
    refresh_timer_ = loop_.after(kPeerRefreshInterval, [this] { refresh_peers(); });
}

Downloads::~Downloads() {
    loop_.cancel(refresh_timer_);
    for (auto& d : downloads_) d->pause();  // makes resume state durable
    downloads_.clear();
}

std::string Downloads::record_path() const {
    return (data_dir_ / fmt::format("{}.downloads", user_)).string();
}

void Downloads::login(const std::string& user, const Admission& admit) {
    user_ = user;
    for (auto& d : downloads_) {
        if (d->state() != Downloader::State::Paused) continue;
        d->resume();
        (void)hooks_.serve_partial(*d);
    }
    restore(admit);
}

void Downloads::logout() {
    for (auto& d : downloads_) d->pause();
    save();
    user_.clear();
}

void Downloads::leave_group(const std::string& group) {
    std::erase_if(downloads_, [&](const auto& d) {
        if (d->group() != group || d->state() == Downloader::State::Complete) return false;
        d->pause();
        reported_errors_.erase(d.get());
        hooks_.say(
            fmt::format("stopped downloading {}: you left group {} (the partial file "
                        "stays at {})",
                        d->info().name, group, d->store().part_path()));
        return true;
    });
}

// After a crash or a logout, the unfinished downloads of the last session are in the record.
void Downloads::restore(const Admission& admit) {
    auto text = read_small_file(record_path());
    if (!text) return;
    auto v = proto::decode(*text);
    if (!v || !v->is_list()) return;
    for (const auto& item : v->as_list()) {
        auto group = item.get_string("group");
        auto info_bytes = item.get_string("info");
        auto dest = item.get_string("destination");
        if (!group || !info_bytes || !dest) continue;
        auto info = proto::parse_info(*info_bytes);
        if (!info) continue;
        bool running = std::any_of(downloads_.begin(), downloads_.end(), [&](const auto& d) {
            return d->store().destination() == *dest;
        });
        if (running) continue;
        if (auto why = admit(std::string(*group), *info)) {
            hooks_.say(fmt::format("not resuming the download of {} to {}: {}", info->name,
                                   std::string(*dest), *why));
            continue;
        }
        start(std::string(*group), std::move(info).value(), std::string(*dest), nullptr);
    }
}

void Downloads::save() {
    if (user_.empty()) return;
    proto::List items;
    for (const auto& d : downloads_) {
        if (d->state() == Downloader::State::Complete || d->state() == Downloader::State::Failed) {
            continue;
        }
        items.push_back(proto::Dict{{"group", d->group()},
                                    {"info", d->info().bencoded},
                                    {"destination", d->store().destination()}});
    }
    auto st = write_file_atomically(record_path(), proto::encode(proto::Value(std::move(items))));
    if (!st) hooks_.say(fmt::format("error: {}", st.error().message));
}

Downloader* Downloads::start(const std::string& group, proto::InfoDict info,
                             const std::string& dest, const proto::Value* tracker_reply) {
    const std::string name = info.name;
    const std::vector<PeerAddress> peers =
        tracker_reply != nullptr ? peers_of(*tracker_reply) : std::vector<PeerAddress>{};
    auto store = PieceStore::open(dest, info);
    if (!store) {
        hooks_.say(fmt::format("error: cannot download {}: {}", name, store.error().message));
        return nullptr;
    }
    auto owned = std::make_unique<Downloader>(loop_, workers_, group, std::move(store).value(),
                                              peer_id_, Downloader::Callbacks{});
    Downloader* d = owned.get();
    d->set_channel_key(channel_key_);
    d->set_callbacks({
        .on_piece_verified = [this, hash = info.info_hash](
                                 PieceIndex piece) { hooks_.on_piece_verified(hash, piece); },
        .on_complete = [this, d] { finish(*d); },
        .on_error = [this, d](const Error& e) { on_error(*d, e); },
    });
    downloads_.push_back(std::move(owned));
    // Verified pieces are served at once, from the partial file.
    if (auto st = hooks_.serve_partial(*d); !st) {
        log::warn("cannot serve the partial {}: {}", name, st.error().message);
    }
    save();
    if (tracker_reply == nullptr) {
        hooks_.say(fmt::format("resuming download of {} from group {} to {}  ({:.1f}% verified)",
                               name, group, dest, d->percent_done()));
    } else {
        hooks_.say(fmt::format("downloading {} from group {} to {}  ({}, {} peer(s) online)", name,
                               group, dest, human_bytes(d->info().length), peers.size()));
    }
    d->add_peers(peers);
    if (tracker_reply != nullptr) set_ticket_from(*d, *tracker_reply);
    return d;
}

// Retried every few seconds (a full disk may get room again): each problem is said once.
void Downloads::on_error(Downloader& d, const Error& e) {
    std::string& last = reported_errors_[&d];
    if (last == e.message) return;
    last = e.message;
    hooks_.say(fmt::format("error: download of {} from group {} paused: {}", d.info().name,
                           d.group(), e.message));
    save();
}

void Downloads::finish(Downloader& d) {
    if (reported_errors_.erase(&d) > 0) {
        hooks_.say(fmt::format("download of {} from group {} resumed and finished", d.info().name,
                               d.group()));
    }
    hooks_.say(
        fmt::format("[C] [{}] {}  -> {}", d.group(), d.info().name, d.store().destination()));
    hooks_.on_complete(d);
    save();
}

void Downloads::refresh_peers() {
    loop_.cancel(refresh_timer_);
    refresh_timer_ = loop_.after(kPeerRefreshInterval, [this] { refresh_peers(); });
    if (user_.empty() || !tracker_.is_ready()) return;
    for (auto& owned : downloads_) {
        Downloader* d = owned.get();
        // Paused by a disk problem: try again; the problem is reported again only if it changed.
        if (d->state() == Downloader::State::Paused && !d->last_error().empty()) d->resume();
        if (d->state() != Downloader::State::Downloading) continue;
        tracker_.request({{"op", "get_peers"},
                          {"group", d->group()},
                          {"info_hash", to_hex(d->info().info_hash)}},
                         life_.guard([this, d](Result<proto::Value> reply) {
                             if (!reply) return;
                             for (auto& live : downloads_) {
                                 if (live.get() != d) continue;
                                 set_ticket_from(*d, *reply);
                                 d->add_peers(peers_of(*reply));
                             }
                         }));
    }
}

const Downloader* Downloads::unfinished_to(const std::string& dest) const {
    for (const auto& d : downloads_) {
        if (d->store().destination() == dest && d->state() != Downloader::State::Complete) {
            return d.get();
        }
    }
    return nullptr;
}

const Downloader* Downloads::in_progress(const Sha1Digest& info_hash) const {
    for (const auto& d : downloads_) {
        if (d->info().info_hash != info_hash) continue;
        if (d->state() == Downloader::State::Downloading ||
            d->state() == Downloader::State::Paused) {
            return d.get();
        }
    }
    return nullptr;
}

bool Downloads::any_running() const {
    return std::any_of(downloads_.begin(), downloads_.end(),
                       [](const auto& d) { return d->state() == Downloader::State::Downloading; });
}

}  // namespace gs::peer
