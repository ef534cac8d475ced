// Shares: the files this client serves to its groups, by info hash — complete files, and
// downloads in progress (served from their partial file, verified pieces only). Complete shares
// are remembered per user on disk and come back at login, unless the file changed meanwhile.
// Owned by FileSharing, reactor thread.
#pragma once

#include "shared/bitfield.hpp"
#include "shared/net/fd.hpp"
#include "shared/proto/metainfo.hpp"
#include "shared/result.hpp"
#include "shared/sha1.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gs::peer {

struct Share {
    std::string group;
    proto::InfoDict info;
    std::string path;  // the file served from
    net::Fd fd;        // open for reading
    // A download in progress: only these pieces (owned by its PieceStore); nullptr: all pieces.
    const Bitfield* partial = nullptr;
    std::int64_t mtime_ns = 0;  // of a complete file when shared, to notice changes
    // Served to peers without a download ticket too (open_share: e.g. other BitTorrent
    // clients). Off by default: only members holding the tracker's ticket get data.
    bool open = false;

    bool has_piece(std::uint32_t i) const { return partial == nullptr || partial->has(i); }
};

class Shares {
public:
    // Opens `path` for serving (replacing any share of the same info hash). Io error when it
    // cannot be opened, or a complete file whose size is not the info's length.
    Status add(std::string group, proto::InfoDict info, std::string path,
               const Bitfield* partial = nullptr);
    const Share* find(const Sha1Digest& info_hash) const;
    Share* find(const Sha1Digest& info_hash);
    const Share* find_by_name(std::string_view group, std::string_view name) const;
    // Removes the share; returns its info hash, or nothing when there was none.
    std::optional<Sha1Digest> remove(std::string_view group, std::string_view name);
    // Removes every share of the group; returns their info hashes.
    std::vector<Sha1Digest> remove_group(std::string_view group);
    void clear() { shares_.clear(); }
    std::size_t size() const { return shares_.size(); }
    const std::map<Sha1Digest, Share>& all() const { return shares_; }

    // Complete shares only, bencoded, written atomically (temporary file, fsync, rename).
    Status save(const std::string& path) const;
    // Adds the shares saved in `path` (none if it does not exist). A file whose size or
    // modification time changed since it was shared is not added: its "[group] name (path)"
    // goes to `dropped`.
    Status load(const std::string& path, std::vector<std::string>& dropped);

private:
    std::map<Sha1Digest, Share> shares_;
};

// Writes `bytes` to `path` so that a crash leaves either the old or the new content.
Status write_file_atomically(const std::string& path, std::string_view bytes);
// The whole file; NotFound when it does not exist.
Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes = 64 << 20);

}  // namespace gs::peer
