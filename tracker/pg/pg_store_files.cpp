// PgStore: files, seeders and whether each seeder is online. Every change to a file's seeders
// locks the file's row first, so two trackers changing one file take turns.
#include "tracker/pg/pg_store.hpp"
#include "tracker/pg/pg_store_tx.hpp"

#include <fmt/format.h>

namespace gs::tracker {
namespace {

// Whether seeder row `s` is online: a live connection of that user with that address on a
// tracker whose lease has not run out.
constexpr std::string_view kSeederOnline =
    "EXISTS (SELECT 1 FROM presence p JOIN tracker_leases l ON l.tracker_id = p.tracker_id"
    " WHERE p.user_pk = s.user_pk AND p.listen_addr = s.listen_addr"
    " AND l.lease_until > now())";

// The columns of file_by_name and file_by_hash, in FileRecord's order.
constexpr std::string_view kFileColumns =
    "SELECT f.pk, f.name, f.info_hash, f.info, f.length, f.piece_length, u.user_id,"
    " f.created_at FROM files f JOIN users u ON u.pk = f.uploaded_by";

const std::string kFileByName =
    fmt::format("{} WHERE f.group_pk = $1 AND f.name = $2", kFileColumns);
const std::string kFileByHash =
    fmt::format("{} WHERE f.group_pk = $1 AND f.info_hash = $2", kFileColumns);
const std::string kListFiles = fmt::format(
    "SELECT f.pk, f.name, f.length, f.info_hash, u.user_id, s.listen_addr, {}"
    " FROM files f LEFT JOIN seeders s ON s.file_pk = f.pk LEFT JOIN users u ON u.pk = s.user_pk"
    " WHERE f.pk IN (SELECT pk FROM files WHERE group_pk = $1 AND name > $2"
    " ORDER BY name LIMIT $3) ORDER BY f.name, f.pk, s.seq",
    kSeederOnline);
// The peer key of seeder row `s`'s latest live connection ('' when offline).
constexpr std::string_view kSeederKey =
    "COALESCE((SELECT p.peer_key FROM presence p JOIN tracker_leases l"
    " ON l.tracker_id = p.tracker_id WHERE p.user_pk = s.user_pk"
    " AND p.listen_addr = s.listen_addr AND l.lease_until > now()"
    " ORDER BY p.conn DESC LIMIT 1), '')";
const std::string kSeedersOf = fmt::format(
    "SELECT u.user_id, s.listen_addr, {}, {} FROM seeders s JOIN users u ON u.pk = s.user_pk"
    " WHERE s.file_pk = $1 ORDER BY s.seq",
    kSeederOnline, kSeederKey);

std::optional<FileRecord> read_file(const pg::Rows& rows) {
    if (rows.empty()) return std::nullopt;
    return FileRecord{rows.integer(0, 0), rows.text(0, 1),    rows.text(0, 2), rows.bytes(0, 3),
                      rows.integer(0, 4), rows.integer(0, 5), rows.text(0, 6), rows.text(0, 7)};
}

}  // namespace

Result<bool> PgStore::add_file(std::int64_t group_pk, const NewFile& file, std::int64_t user_pk,
                               std::string_view listen_addr, TimePoint now) {
    return in_transaction("add_file", [&]() -> Result<bool> {
        std::string when = utc_text(now);
        // A name or info hash the group already has (perhaps added by another tracker a moment
        // ago) inserts nothing.
        auto added = conn_.query(
            "INSERT INTO files (group_pk, name, info_hash, info, length, piece_length,"
            " uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT DO NOTHING RETURNING pk",
            group_pk, file.name, file.info_hash, pg::Bytes{file.info}, file.length,
            file.piece_length, user_pk, when);
        if (!added) return added.error();
        if (added->empty()) return false;
        if (auto s =
                pg::done(conn_.query("INSERT INTO seeders (file_pk, user_pk, listen_addr, added_at)"
                                     " VALUES ($1, $2, $3, $4)",
                                     added->integer(0, 0), user_pk, listen_addr, when));
            !s) {
            return s.error();
        }
        return true;
    });
}

Result<bool> PgStore::add_seeder(std::int64_t file_pk, std::int64_t user_pk,
                                 std::string_view listen_addr, TimePoint now,
                                 int max_addrs_per_user) {
    return in_transaction("add_seeder", [&]() -> Result<bool> {
        if (auto s = pg::done(conn_.query("SELECT 1 FROM files WHERE pk = $1 FOR UPDATE", file_pk));
            !s) {
            return s.error();
        }
        auto known = conn_.query(
            "SELECT 1 FROM seeders WHERE file_pk = $1 AND user_pk = $2 AND listen_addr = $3",
            file_pk, user_pk, listen_addr);
        if (!known) return known.error();
        if (!known->empty()) return false;
        auto counted = conn_.query(
            "SELECT count(*) FROM seeders WHERE file_pk = $1 AND user_pk = $2", file_pk, user_pk);
        if (!counted) return counted.error();
        std::int64_t rows = counted->integer(0, 0);
        // Room for the new address: the user's oldest ones for this file go.
        for (; rows >= max_addrs_per_user && rows > 0; --rows) {
            if (auto s = pg::done(
                    conn_.query("DELETE FROM seeders WHERE seq = (SELECT seq FROM seeders"
                                " WHERE file_pk = $1 AND user_pk = $2 ORDER BY seq LIMIT 1)",
                                file_pk, user_pk));
                !s) {
                return s.error();
            }
        }
        auto added = conn_.query(
            "INSERT INTO seeders (file_pk, user_pk, listen_addr, added_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (file_pk, user_pk, listen_addr) DO NOTHING",
            file_pk, user_pk, listen_addr, utc_text(now));
        if (!added) return added.error();
        return true;
    });
}

Result<bool> PgStore::remove_file(std::int64_t file_pk) {
    // Seeders go by ON DELETE CASCADE.
    auto removed = conn_.query("DELETE FROM files WHERE pk = $1", file_pk);
    if (!removed) return storage_error("remove_file", removed.error());
    return removed->affected() > 0;
}

Result<HashElsewhere> PgStore::info_hash_elsewhere(std::int64_t group_pk,
                                                   std::string_view info_hash,
                                                   std::int64_t user_pk) {
    auto rows = conn_.query(
        "SELECT EXISTS (SELECT 1 FROM files WHERE info_hash = $2 AND group_pk != $1),"
        " EXISTS (SELECT 1 FROM files f JOIN seeders s ON s.file_pk = f.pk"
        " WHERE f.info_hash = $2 AND f.group_pk != $1 AND s.user_pk = $3)",
        group_pk, info_hash, user_pk);
    if (!rows) return storage_error("info_hash_elsewhere", rows.error());
    return HashElsewhere{rows->boolean(0, 0), rows->boolean(0, 1)};
}

Result<UploadCounts> PgStore::uploads_by(std::int64_t user_pk, std::int64_t group_pk) {
    auto rows = conn_.query(
        "SELECT count(*) FILTER (WHERE group_pk = $2), count(*) FROM files"
        " WHERE uploaded_by = $1",
        user_pk, group_pk);
    if (!rows) return storage_error("uploads_by", rows.error());
    return UploadCounts{rows->integer(0, 0), rows->integer(0, 1)};
}

Result<std::optional<FileRecord>> PgStore::file_by_name(std::int64_t group_pk,
                                                        std::string_view name) {
    auto rows = conn_.query(kFileByName, group_pk, name);
    if (!rows) return storage_error("file_by_name", rows.error());
    return read_file(*rows);
}

Result<std::optional<FileRecord>> PgStore::file_by_hash(std::int64_t group_pk,
                                                        std::string_view info_hash) {
    auto rows = conn_.query(kFileByHash, group_pk, info_hash);
    if (!rows) return storage_error("file_by_hash", rows.error());
    return read_file(*rows);
}

Result<std::optional<std::int64_t>> PgStore::file_pk_by_hash(std::int64_t group_pk,
                                                             std::string_view info_hash) {
    auto rows = conn_.query("SELECT pk FROM files WHERE group_pk = $1 AND info_hash = $2", group_pk,
                            info_hash);
    if (!rows) return storage_error("file_pk_by_hash", rows.error());
    if (rows->empty()) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(rows->integer(0, 0));
}

Result<std::vector<FileListing>> PgStore::list_files(std::int64_t group_pk, std::string_view after,
                                                     std::size_t limit) {
    // One row per (file, seeder), files in name order; a file without seeders (none should
    // exist) comes once with NULL seeder columns.
    auto rows = conn_.query(kListFiles, group_pk, after, static_cast<std::int64_t>(limit));
    if (!rows) return storage_error("list_files", rows.error());
    std::vector<FileListing> out;
    std::int64_t current_pk = -1;
    for (int i = 0; i < rows->size(); ++i) {
        std::int64_t file_pk = rows->integer(i, 0);
        if (file_pk != current_pk) {
            current_pk = file_pk;
            out.push_back(FileListing{rows->text(i, 1), rows->integer(i, 2), rows->text(i, 3), {}});
        }
        if (!rows->is_null(i, 5)) {
            out.back().seeders.push_back(
                Seeder{rows->text(i, 4), rows->text(i, 5), rows->boolean(i, 6)});
        }
    }
    return out;
}

Result<std::vector<Seeder>> PgStore::seeders_of(std::int64_t file_pk) {
    auto rows = conn_.query(kSeedersOf, file_pk);
    if (!rows) return storage_error("seeders_of", rows.error());
    std::vector<Seeder> out;
    for (int i = 0; i < rows->size(); ++i) {
        out.push_back(
            Seeder{rows->text(i, 0), rows->text(i, 1), rows->boolean(i, 2), rows->text(i, 3)});
    }
    return out;
}

Result<int> PgStore::remove_seeder(std::int64_t file_pk, std::int64_t user_pk) {
    return in_transaction("remove_seeder", [&]() -> Result<int> {
        if (auto s = pg::done(conn_.query("SELECT 1 FROM files WHERE pk = $1 FOR UPDATE", file_pk));
            !s) {
            return s.error();
        }
        auto removed = conn_.query("DELETE FROM seeders WHERE file_pk = $1 AND user_pk = $2",
                                   file_pk, user_pk);
        if (!removed) return removed.error();
        if (removed->affected() == 0) return 0;
        // A file nobody seeds cannot be downloaded, so it leaves the listing.
        if (auto s = pg::done(
                conn_.query("DELETE FROM files WHERE pk = $1"
                            " AND NOT EXISTS (SELECT 1 FROM seeders s WHERE s.file_pk = files.pk)",
                            file_pk));
            !s) {
            return s.error();
        }
        return removed->affected();
    });
}

Result<int> PgStore::remove_user_shares_in_group(std::int64_t group_pk, std::int64_t user_pk) {
    return in_transaction("remove_user_shares_in_group", [&]() -> Result<int> {
        if (auto locked = lock_group(group_pk); !locked) return locked.error();
        return drop_user_seeders_in_group(group_pk, user_pk);
    });
}

Result<int> PgStore::drop_user_seeders_in_group(std::int64_t group_pk, std::int64_t user_pk) {
    auto removed = conn_.query(
        "DELETE FROM seeders WHERE user_pk = $2"
        " AND file_pk IN (SELECT pk FROM files WHERE group_pk = $1)",
        group_pk, user_pk);
    if (!removed) return removed.error();
    if (removed->affected() > 0) {
        if (auto s = pg::done(
                conn_.query("DELETE FROM files WHERE group_pk = $1"
                            " AND NOT EXISTS (SELECT 1 FROM seeders s WHERE s.file_pk = files.pk)",
                            group_pk));
            !s) {
            return s.error();
        }
    }
    return removed->affected();
}

}  // namespace gs::tracker
