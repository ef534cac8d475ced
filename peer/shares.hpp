// Shares: the files this client serves to its groups, by info hash — complete files, and
// downloads in progress (served from their partial file, verified pieces only). Owned by
// FileSharing, reactor thread.
#pragma once

#include "shared/bitfield.hpp"
#include "shared/net/fd.hpp"
#include "shared/proto/metainfo.hpp"

#include <map>
#include <string>
#include <vector>

namespace gs::peer {

struct Share {
    std::string group;
    proto::InfoDict info;
    std::string path;             // the file served from
    net::Fd fd;                   // open for reading
    const Bitfield* partial = nullptr;  // a download in progress: only these pieces; else all
    std::int64_t mtime_ns = 0;    // of a complete file when shared, to notice changes

    bool has_piece(std::uint32_t i) const { return partial == nullptr || partial->has(i); }
};

class Shares {
public:
    // Opens `path` for serving. An error when it cannot be opened.
    Status add(std::string group, proto::InfoDict info, std::string path,
               const Bitfield* partial = nullptr);
    Share* find(std::string_view raw_info_hash);
    const Share* find_by_name(std::string_view group, std::string_view name) const;
    bool remove(std::string_view group, std::string_view name);
    // Removes every share of the group; returns how many.
    int remove_group(std::string_view group);
    void clear() { shares_.clear(); }
    std::size_t size() const { return shares_.size(); }
    const std::map<std::string, Share, std::less<>>& all() const { return shares_; }

    // Complete shares are remembered per user in `path` (bencoded) and reloaded at login; a file
    // whose size or modification time changed since is dropped and reported in `dropped`.
    Status save(const std::string& path) const;
    Status load(const std::string& path, std::vector<std::string>& dropped);

private:
    std::map<std::string, Share, std::less<>> shares_;  // raw 20-byte info hash -> share
};

}  // namespace gs::peer
