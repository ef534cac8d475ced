#include "peer/shares.hpp"

#include "shared/proto/bencode.hpp"
#include "shared/sha1.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gs::peer {

namespace {
std::int64_t mtime_ns_of(int fd, std::int64_t* size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return -1;
    if (size != nullptr) *size = st.st_size;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}
}  // namespace

Status Shares::add(std::string group, proto::InfoDict info, std::string path,
                   const Bitfield* partial) {
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        return make_error(Errc::Io, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
    Share s;
    s.group = std::move(group);
    s.mtime_ns = mtime_ns_of(fd.get(), nullptr);
    s.fd = std::move(fd);
    s.path = std::move(path);
    s.partial = partial;
    std::string key = digest_bytes(info.info_hash);
    s.info = std::move(info);
    shares_.insert_or_assign(std::move(key), std::move(s));
    return {};
}

Share* Shares::find(std::string_view raw_info_hash) {
    auto it = shares_.find(raw_info_hash);
    return it == shares_.end() ? nullptr : &it->second;
}

const Share* Shares::find_by_name(std::string_view group, std::string_view name) const {
    for (const auto& [k, s] : shares_) {
        if (s.group == group && s.info.name == name) return &s;
    }
    return nullptr;
}

bool Shares::remove(std::string_view group, std::string_view name) {
    for (auto it = shares_.begin(); it != shares_.end(); ++it) {
        if (it->second.group == group && it->second.info.name == name) {
            shares_.erase(it);
            return true;
        }
    }
    return false;
}

int Shares::remove_group(std::string_view group) {
    return static_cast<int>(std::erase_if(shares_, [&](const auto& kv) { return kv.second.group == group; }));
}

Status Shares::save(const std::string& path) const {
    proto::List items;
    for (const auto& [k, s] : shares_) {
        if (s.partial != nullptr) continue;  // downloads resume from their own state
        items.push_back(proto::Dict{{"group", s.group}, {"info", s.info.bencoded}, {"path", s.path},
                                    {"mtime_ns", s.mtime_ns}});
    }
    std::string body = proto::encode(proto::Value(std::move(items)));
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(body.data(), static_cast<std::streamsize>(body.size()));
        if (!out) return make_error(Errc::Io, fmt::format("cannot write {}", tmp));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        return make_error(Errc::Io, fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
    return {};
}

Status Shares::load(const std::string& path, std::vector<std::string>& dropped) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};  // nothing shared yet
    std::stringstream ss;
    ss << in.rdbuf();
    auto v = proto::decode(ss.str());
    if (!v || !v->is_list()) return make_error(Errc::Io, fmt::format("{} is unreadable", path));
    for (const auto& item : v->as_list()) {
        auto group = item.get_string("group");
        auto info_bytes = item.get_string("info");
        auto file = item.get_string("path");
        auto mtime = item.get_int("mtime_ns");
        if (!group || !info_bytes || !file || !mtime) continue;
        auto info = proto::parse_info(*info_bytes);
        if (!info) continue;
        std::string name = info->name;
        auto added = add(std::string(*group), std::move(info).value(), std::string(*file));
        Share* s = nullptr;
        if (added) s = find_by_name(*group, name) ? const_cast<Share*>(find_by_name(*group, name)) : nullptr;
        std::int64_t size = -1;
        if (!added || s == nullptr || mtime_ns_of(s->fd.get(), &size) != *mtime ||
            size != s->info.length) {
            if (s != nullptr) remove(*group, name);
            dropped.push_back(fmt::format("[{}] {} ({})", *group, name, *file));
        }
    }
    return {};
}

}  // namespace gs::peer
