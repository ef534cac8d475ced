// SqliteStore: files and seeders.
#include "tracker/sqlite/transaction.hpp"
#include "tracker/sqlite_store.hpp"
#include "tracker/sqlite_store_sql.hpp"

namespace gs::tracker {
namespace {

// A row of file_by_name or file_by_hash, whose columns come in FileRecord's order.
FileRecord read_file(Statement& q) {
    return FileRecord{q.column_int(0), q.column_text(1), q.column_text(2), q.column_blob(3),
                      q.column_int(4), q.column_int(5),  q.column_text(6), q.column_text(7)};
}

HashElsewhere read_hash_elsewhere(Statement& q) {
    return HashElsewhere{q.column_int(0) != 0, q.column_int(1) != 0};
}

UploadCounts read_upload_counts(Statement& q) {
    return UploadCounts{q.column_int(0), q.column_int(1)};
}

// A seeder from its columns user_id, listen_addr, user_pk starting at `first`, with whether it
// is online now and its peer key.
Seeder read_seeder(Statement& q, int first, const PresenceTable& presence) {
    Seeder s{q.column_text(first), q.column_text(first + 1)};
    s.online = presence.is_online(q.column_int(first + 2), s.listen_addr);
    if (s.online) s.peer_key = presence.peer_key_of(q.column_int(first + 2), s.listen_addr);
    return s;
}

}  // namespace

Result<bool> SqliteStore::add_file(std::int64_t group_pk, const NewFile& file, std::int64_t user_pk,
                                   std::string_view listen_addr, TimePoint now) {
    return in_transaction(db_, "add_file", [&]() -> Result<bool> {
        std::string when = utc_text(now);
        if (auto s = run_once(st_->insert_file, group_pk, file.name, file.info_hash,
                              Blob{file.info}, file.length, file.piece_length, user_pk, when);
            !s) {
            if (s.error().code == Errc::AlreadyExists) return false;
            return s.error();
        }
        std::int64_t file_pk = st_->insert_file.last_insert_rowid();
        if (auto s = run_once(st_->insert_seeder, file_pk, user_pk, listen_addr, when); !s) {
            return s.error();
        }
        return true;
    });
}

Result<bool> SqliteStore::add_seeder(std::int64_t file_pk, std::int64_t user_pk,
                                     std::string_view listen_addr, TimePoint now,
                                     int max_addrs_per_user) {
    return in_transaction(db_, "add_seeder", [&]() -> Result<bool> {
        auto known = has_row(st_->seeder_exists, file_pk, user_pk, listen_addr);
        if (!known) return known.error();
        if (*known) return false;
        auto counted = count_of(st_->count_user_seeders_of_file, file_pk, user_pk);
        if (!counted) return counted.error();
        std::int64_t rows = *counted;
        // Room for the new address: the user's oldest ones for this file go.
        for (; rows >= max_addrs_per_user && rows > 0; --rows) {
            if (auto s = run_once(st_->delete_oldest_user_seeder_of_file, file_pk, user_pk); !s) {
                return s.error();
            }
        }
        if (auto s = run_once(st_->insert_seeder, file_pk, user_pk, listen_addr, utc_text(now));
            !s) {
            return s.error();
        }
        return true;
    });
}

Result<bool> SqliteStore::remove_file(std::int64_t file_pk) {
    auto removed = count_changes(st_->delete_file, file_pk);
    if (!removed) return storage_error("remove_file", removed.error());
    return *removed > 0;
}

Result<HashElsewhere> SqliteStore::info_hash_elsewhere(std::int64_t group_pk,
                                                       std::string_view info_hash,
                                                       std::int64_t user_pk) {
    auto row =
        first_row(st_->info_hash_elsewhere, read_hash_elsewhere, group_pk, info_hash, user_pk);
    if (!row) return storage_error("info_hash_elsewhere", row.error());
    return row->value_or(HashElsewhere{});
}

Result<UploadCounts> SqliteStore::uploads_by(std::int64_t user_pk, std::int64_t group_pk) {
    auto row = first_row(st_->uploads_by, read_upload_counts, user_pk, group_pk);
    if (!row) return storage_error("uploads_by", row.error());
    return row->value_or(UploadCounts{});
}

Result<std::optional<FileRecord>> SqliteStore::file_by_name(std::int64_t group_pk,
                                                            std::string_view name) {
    return stored("file_by_name", first_row(st_->file_by_name, read_file, group_pk, name));
}

Result<std::optional<FileRecord>> SqliteStore::file_by_hash(std::int64_t group_pk,
                                                            std::string_view info_hash) {
    return stored("file_by_hash", first_row(st_->file_by_hash, read_file, group_pk, info_hash));
}

Result<std::optional<std::int64_t>> SqliteStore::file_pk_by_hash(std::int64_t group_pk,
                                                                 std::string_view info_hash) {
    return stored("file_pk_by_hash",
                  first_row(st_->file_pk_by_hash, read_int, group_pk, info_hash));
}

Result<std::vector<FileListing>> SqliteStore::list_files(std::int64_t group_pk,
                                                         std::string_view after,
                                                         std::size_t limit) {
    std::vector<FileListing> out;
    std::int64_t current_pk = -1;
    // One row per (file, seeder), files in name order; a file without seeders (none should
    // exist) comes once with NULL seeder columns.
    auto read = [&](Statement& q) {
        std::int64_t file_pk = q.column_int(0);
        if (file_pk != current_pk) {
            current_pk = file_pk;
            out.push_back(FileListing{q.column_text(1), q.column_int(2), q.column_text(3), {}});
        }
        if (!q.column_is_null(5)) {
            out.back().seeders.push_back(read_seeder(q, 4, *presence_));
        }
    };
    if (auto s = each_row(st_->list_files, read, group_pk, after, static_cast<std::int64_t>(limit));
        !s) {
        return storage_error("list_files", s.error());
    }
    return out;
}

Result<std::vector<Seeder>> SqliteStore::seeders_of(std::int64_t file_pk) {
    auto read = [this](Statement& q) { return read_seeder(q, 0, *presence_); };
    return stored("seeders_of", all_rows(st_->seeders_of, read, file_pk));
}

Result<int> SqliteStore::remove_seeder(std::int64_t file_pk, std::int64_t user_pk) {
    return in_transaction(db_, "remove_seeder", [&]() -> Result<int> {
        auto removed = count_changes(st_->delete_user_seeders_of_file, file_pk, user_pk);
        if (!removed) return removed.error();
        if (*removed == 0) return 0;
        // A file nobody seeds cannot be downloaded, so it leaves the listing.
        if (auto s = run_once(st_->delete_file_if_unseeded, file_pk); !s) {
            return s.error();
        }
        return *removed;
    });
}

Result<int> SqliteStore::remove_user_shares_in_group(std::int64_t group_pk, std::int64_t user_pk) {
    return in_transaction(db_, "remove_user_shares_in_group", [&]() -> Result<int> {
        auto removed = drop_user_seeders_in_group(group_pk, user_pk);
        if (!removed) return removed.error();
        return *removed;
    });
}

Result<int> SqliteStore::drop_user_seeders_in_group(std::int64_t group_pk, std::int64_t user_pk) {
    auto removed = count_changes(st_->delete_user_seeders_in_group, group_pk, user_pk);
    if (!removed) return removed.error();
    if (*removed > 0) {
        if (auto s = run_once(st_->delete_unseeded_files_in_group, group_pk); !s) {
            return s.error();
        }
    }
    return *removed;
}

}  // namespace gs::tracker
