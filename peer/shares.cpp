#include "peer/shares.hpp"

#include "shared/proto/bencode.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace gs::peer {

namespace {

Error io_error(std::string_view what, const std::string& path, int err = errno) {
    return make_error(Errc::Io, fmt::format("cannot {} {}: {}", what, path, std::strerror(err)));
}

struct FileStamp {
    std::int64_t size = -1;
    std::int64_t mtime_ns = -1;
};

FileStamp stamp_of(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return {};
    return {st.st_size,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace

bool Share::changed_on_disk() const {
    if (partial != nullptr) return false;  // a download's own file: only we write to it
    const FileStamp now = stamp_of(fd.get());
    return now.size != info.length || now.mtime_ns != mtime_ns;
}

Status write_file_atomically(const std::string& path, std::string_view bytes) {
    const std::string tmp = path + ".tmp";
    {
        net::Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd.valid()) return io_error("create", tmp);
        std::size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return io_error("write", tmp);
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd.get()) != 0) return io_error("sync", tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename", tmp);
    std::string dir = std::filesystem::path(path).parent_path().string();
    net::Fd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.valid()) ::fsync(dfd.get());
    return {};
}

Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ENOENT)
            return make_error(Errc::NotFound, fmt::format("{} does not exist", path));
        return io_error("read", path);
    }
    std::string text;
    char buf[64 * 1024];
    while (true) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_error("read", path);
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > max_bytes) {
            return make_error(Errc::Io, fmt::format("{} is larger than expected", path));
        }
    }
    return text;
}

bool Share::in_group(std::string_view group) const {
    return std::find(groups.begin(), groups.end(), group) != groups.end();
}

std::string Share::group_list() const {
    return fmt::format("{}", fmt::join(groups, ", "));
}

Status Shares::add(std::string group, proto::InfoDict info, std::string path,
                   VerifiedPieces partial) {
    const Sha1Digest key = info.info_hash;
    Share* existing = find(key);
    if (existing != nullptr && existing->partial == nullptr && partial != nullptr) {
        return make_error(Errc::AlreadyExists, fmt::format("{} is already shared complete from {}",
                                                           existing->info.name, existing->path));
    }
    // Two downloads of one file never share one entry: each partial share is its download's
    // own, with that download's group, and goes when the download does. A download's partial
    // file is its own (PieceStore locks it), so another path is another download.
    if (existing != nullptr && existing->partial != nullptr && partial != nullptr &&
        existing->path != path) {
        return make_error(Errc::AlreadyExists, fmt::format("{} is already being downloaded to {}",
                                                           existing->info.name, existing->path));
    }
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return io_error("open", path);
    FileStamp stamp = stamp_of(fd.get());
    if (partial == nullptr && stamp.size != info.length) {
        return make_error(Errc::Io, fmt::format("{} is {} bytes, not the {} it was shared with",
                                                path, stamp.size, info.length));
    }
    if (existing == nullptr) {
        existing = &shares_[key];
        existing->info = std::move(info);
    }
    // The same info hash is the same content: the newest file given serves every group.
    existing->mtime_ns = stamp.mtime_ns;
    existing->fd = std::move(fd);
    existing->path = std::move(path);
    existing->partial = std::move(partial);
    if (!existing->in_group(group)) existing->groups.push_back(std::move(group));
    return {};
}

const Share* Shares::find(const Sha1Digest& info_hash) const {
    auto it = shares_.find(info_hash);
    return it == shares_.end() ? nullptr : &it->second;
}

Share* Shares::find(const Sha1Digest& info_hash) {
    auto it = shares_.find(info_hash);
    return it == shares_.end() ? nullptr : &it->second;
}

const Share* Shares::find_by_name(std::string_view group, std::string_view name) const {
    for (const auto& [hash, s] : shares_) {
        if (s.info.name == name && s.in_group(group)) return &s;
    }
    return nullptr;
}

std::optional<Shares::Removed> Shares::remove(std::string_view group, std::string_view name) {
    for (auto it = shares_.begin(); it != shares_.end(); ++it) {
        Share& s = it->second;
        if (s.info.name != name || !s.in_group(group)) continue;
        std::erase(s.groups, group);
        Removed removed{it->first, s.groups.empty()};
        if (removed.last) shares_.erase(it);
        return removed;
    }
    return std::nullopt;
}

std::vector<Sha1Digest> Shares::remove_group(std::string_view group) {
    std::vector<Sha1Digest> gone;
    for (auto it = shares_.begin(); it != shares_.end();) {
        std::erase(it->second.groups, group);
        if (it->second.groups.empty()) {
            gone.push_back(it->first);
            it = shares_.erase(it);
        } else {
            ++it;
        }
    }
    return gone;
}

Status Shares::save(const std::string& path) const {
    proto::List items;
    for (const auto& [hash, s] : shares_) {
        if (s.partial != nullptr) continue;  // downloads resume from their own state
        proto::List groups;
        for (const auto& g : s.groups) groups.push_back(g);
        items.push_back(proto::Dict{{"group", s.groups.front()},
                                    {"groups", std::move(groups)},
                                    {"info", s.info.bencoded},
                                    {"path", s.path},
                                    {"mtime_ns", s.mtime_ns},
                                    {"open", s.open ? 1 : 0}});
    }
    return write_file_atomically(path, proto::encode(proto::Value(std::move(items))));
}

Status Shares::load(const std::string& path, std::vector<std::string>& dropped) {
    auto text = read_small_file(path);
    if (!text) return text.error().code == Errc::NotFound ? Status{} : Status(text.error());
    auto v = proto::decode(*text);
    if (!v || !v->is_list()) {
        return make_error(Errc::Io, fmt::format("{} is damaged; shares were not restored", path));
    }
    for (const auto& item : v->as_list()) {
        auto info_bytes = item.get_string("info");
        auto file = item.get_string("path");
        auto mtime = item.get_int("mtime_ns");
        if (!info_bytes || !file || !mtime) continue;
        std::vector<std::string> groups;
        if (const proto::List* list = item.get_list("groups")) {
            for (const auto& g : *list) {
                if (g.is_string() &&
                    std::find(groups.begin(), groups.end(), g.as_string()) == groups.end()) {
                    groups.emplace_back(g.as_string());
                }
            }
        } else if (auto group = item.get_string("group")) {
            groups.emplace_back(*group);  // saved before shares had several groups
        }
        if (groups.empty()) continue;
        auto info = proto::parse_info(*info_bytes);
        if (!info) continue;
        const std::string label =
            fmt::format("[{}] {} ({})", fmt::join(groups, ", "), info->name, *file);
        const Sha1Digest hash = info->info_hash;
        if (find(hash) != nullptr) continue;  // saved twice: the first one counts
        if (auto added = add(groups.front(), std::move(info).value(), std::string(*file)); !added) {
            dropped.push_back(label);
            continue;
        }
        Share& s = shares_.at(hash);
        s.groups = std::move(groups);
        s.open = item.get_int("open").value_or(0) == 1;
        if (s.mtime_ns != *mtime) {
            shares_.erase(hash);
            dropped.push_back(label);
        }
    }
    return {};
}

}  // namespace gs::peer
