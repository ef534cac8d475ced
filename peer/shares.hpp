// Shares: the files this client serves to its groups, by info hash — complete files, and
// downloads in progress (served from their partial file, verified pieces only). One share serves
// its info hash for every group it was shared in; it stops being served when its last group is
// removed. Complete shares are remembered per user on disk and come back at login, unless the
// file changed meanwhile. Owned by FileSharing, reactor thread.
#pragma once

#include "peer/download/indexes.hpp"
#include "shared/bitfield.hpp"  // for the serving side, which builds bitfields of shares
#include "shared/net/fd.hpp"
#include "shared/proto/metainfo.hpp"
#include "shared/result.hpp"
#include "shared/sha1.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gs::peer {

// Which pieces of a download in progress are verified, asked of the download itself
// (Downloader::verified_pieces): it answers false once the download is gone, so a share never
// points into a download that ended.
using VerifiedPieces = std::function<bool(PieceIndex piece)>;

struct Share {
    std::vector<std::string> groups;  // in the order they were added; never empty
    proto::InfoDict info;
    std::string path;  // the file served from
    net::Fd fd;        // open for reading
    // A download in progress: only the pieces it says are verified; empty: a complete file.
    VerifiedPieces partial;
    std::int64_t mtime_ns = 0;  // of a complete file when shared, to notice changes
    // Served to peers without a download ticket too (open_share: e.g. other BitTorrent
    // clients). Off by default: only members holding the tracker's ticket get data.
    bool open = false;

    bool has_piece(std::uint32_t i) const { return partial == nullptr || partial(PieceIndex{i}); }
    bool in_group(std::string_view group) const;
    // A complete file whose size or modification time is no longer what it was when shared:
    // edited in place, so its pieces no longer match their hashes.
    bool changed_on_disk() const;
    // "g1" or "g1, g2".
    std::string group_list() const;
};

class Shares {
public:
    // Opens `path` for serving the info hash in `group`. A share of the same info hash keeps its
    // groups and gains this one; `path` replaces its file, except that a partial file (one with
    // `partial`) never replaces a complete one (AlreadyExists: nothing to download), nor another
    // download's partial file, at another path (AlreadyExists). Io error when `path` cannot
    // be opened, or a complete file whose size is not the info's length; nothing changes then.
    Status add(std::string group, proto::InfoDict info, std::string path,
               VerifiedPieces partial = nullptr);
    const Share* find(const Sha1Digest& info_hash) const;
    Share* find(const Sha1Digest& info_hash);
    const Share* find_by_name(std::string_view group, std::string_view name) const;
    struct Removed {
        Sha1Digest info_hash;
        bool last = false;  // it had no other group: the file is no longer served at all
    };
    // Removes `group` from the share of that name; nothing when there was none.
    std::optional<Removed> remove(std::string_view group, std::string_view name);
    // Removes `group` from every share; returns the info hashes no longer served at all.
    std::vector<Sha1Digest> remove_group(std::string_view group);
    void clear() { shares_.clear(); }
    std::size_t size() const { return shares_.size(); }
    const std::map<Sha1Digest, Share>& all() const { return shares_; }

    // Complete shares only, bencoded, written atomically (temporary file, fsync, rename). Each
    // item has "groups" (all of them) and "group" (the first, as files before "groups" had).
    Status save(const std::string& path) const;
    // Adds the shares saved in `path` (none if it does not exist). A file whose size or
    // modification time changed since it was shared is not added: its "[groups] name (path)"
    // goes to `dropped`. Reads files with "group" only, too.
    Status load(const std::string& path, std::vector<std::string>& dropped);

private:
    std::map<Sha1Digest, Share> shares_;
};

// Writes `bytes` to `path` so that a crash leaves either the old or the new content.
Status write_file_atomically(const std::string& path, std::string_view bytes);
// The whole file; NotFound when it does not exist.
Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes = 64 << 20);

}  // namespace gs::peer
