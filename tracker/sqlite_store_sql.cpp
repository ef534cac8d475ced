#include "tracker/sqlite_store_sql.hpp"

#include "shared/log.hpp"

#include <ctime>

namespace gs::tracker {

Status prepare_statements(Db& db, SqliteStore::Statements& st) {
    struct Item {
        Statement* statement;
        std::string_view sql;
    };
    const Item items[] = {
        {&st.insert_user,
         "INSERT INTO users (user_id, password_hash, created_at) VALUES (?1, ?2, ?3)"},
        {&st.user_exists, "SELECT 1 FROM users WHERE user_id = ?1"},
        {&st.credentials, "SELECT pk, user_id, password_hash FROM users WHERE user_id = ?1"},
        {&st.insert_session,
         "INSERT INTO sessions (token_hash, user_pk, created_at, expires_at)"
         " VALUES (?1, ?2, ?3, ?4)"},
        {&st.session_user,
         "SELECT u.pk, u.user_id FROM sessions s JOIN users u ON u.pk = s.user_pk"
         " WHERE s.token_hash = ?1 AND s.expires_at > ?2"},
        {&st.renew_session, "UPDATE sessions SET expires_at = ?2 WHERE token_hash = ?1"},
        {&st.delete_session, "DELETE FROM sessions WHERE token_hash = ?1"},
        {&st.delete_expired_sessions, "DELETE FROM sessions WHERE expires_at <= ?1"},

        {&st.insert_group,
         "INSERT INTO groups (group_id, owner_pk, created_at) VALUES (?1, ?2, ?3)"},
        {&st.find_group,
         "SELECT g.pk, g.group_id, g.owner_pk, u.user_id, g.member_epoch FROM groups g"
         " JOIN users u ON u.pk = g.owner_pk WHERE g.group_id = ?1"},
        {&st.insert_membership,
         "INSERT INTO memberships (group_pk, user_pk, joined_at) VALUES (?1, ?2, ?3)"},
        {&st.is_member, "SELECT 1 FROM memberships WHERE group_pk = ?1 AND user_pk = ?2"},
        {&st.list_members,
         "SELECT u.user_id, m.joined_at FROM memberships m JOIN users u ON u.pk = m.user_pk"
         " WHERE m.group_pk = ?1 ORDER BY m.seq"},
        {&st.list_groups,
         "SELECT g.group_id, o.user_id,"
         " (SELECT count(*) FROM memberships m WHERE m.group_pk = g.pk),"
         " EXISTS (SELECT 1 FROM memberships m WHERE m.group_pk = g.pk AND m.user_pk = ?1)"
         " FROM groups g JOIN users o ON o.pk = g.owner_pk WHERE g.group_id > ?2"
         " ORDER BY g.group_id LIMIT ?3"},
        {&st.has_request, "SELECT 1 FROM join_requests WHERE group_pk = ?1 AND user_pk = ?2"},
        {&st.insert_request,
         "INSERT INTO join_requests (group_pk, user_pk, requested_at) VALUES (?1, ?2, ?3)"},
        {&st.list_requests,
         "SELECT u.user_id, r.requested_at, r.seq FROM join_requests r"
         " JOIN users u ON u.pk = r.user_pk WHERE r.group_pk = ?1 AND r.seq > ?2"
         " ORDER BY r.seq LIMIT ?3"},
        {&st.find_request,
         "SELECT r.seq, r.user_pk FROM join_requests r JOIN users u ON u.pk = r.user_pk"
         " WHERE r.group_pk = ?1 AND u.user_id = ?2"},
        {&st.delete_request, "DELETE FROM join_requests WHERE seq = ?1"},
        {&st.delete_membership, "DELETE FROM memberships WHERE group_pk = ?1 AND user_pk = ?2"},
        {&st.earliest_member,
         "SELECT m.user_pk, u.user_id FROM memberships m JOIN users u ON u.pk = m.user_pk"
         " WHERE m.group_pk = ?1 ORDER BY m.seq LIMIT 1"},
        {&st.set_owner, "UPDATE groups SET owner_pk = ?2 WHERE pk = ?1 AND owner_pk = ?3"},
        {&st.delete_group, "DELETE FROM groups WHERE pk = ?1"},
        {&st.bump_epoch, "UPDATE groups SET member_epoch = member_epoch + 1 WHERE pk = ?1"},
        {&st.user_pk_of, "SELECT pk FROM users WHERE user_id = ?1"},
        {&st.count_groups_owned, "SELECT count(*) FROM groups WHERE owner_pk = ?1"},
        {&st.count_pending_requests, "SELECT count(*) FROM join_requests WHERE user_pk = ?1"},

        {&st.insert_file,
         "INSERT INTO files (group_pk, name, info_hash, info, length, piece_length, uploaded_by,"
         " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&st.insert_seeder,
         "INSERT INTO seeders (file_pk, user_pk, listen_addr, added_at) VALUES (?1, ?2, ?3, ?4)"
         " ON CONFLICT (file_pk, user_pk, listen_addr) DO NOTHING"},
        // file_by_name and file_by_hash give the columns in SqliteStore::read_file's order.
        {&st.file_by_name,
         "SELECT f.pk, f.name, f.info_hash, f.info, f.length, f.piece_length, u.user_id,"
         " f.created_at FROM files f JOIN users u ON u.pk = f.uploaded_by"
         " WHERE f.group_pk = ?1 AND f.name = ?2"},
        {&st.file_by_hash,
         "SELECT f.pk, f.name, f.info_hash, f.info, f.length, f.piece_length, u.user_id,"
         " f.created_at FROM files f JOIN users u ON u.pk = f.uploaded_by"
         " WHERE f.group_pk = ?1 AND f.info_hash = ?2"},
        {&st.file_pk_by_hash, "SELECT pk FROM files WHERE group_pk = ?1 AND info_hash = ?2"},
        {&st.list_files,
         "SELECT f.pk, f.name, f.length, f.info_hash, u.user_id, s.listen_addr, s.user_pk"
         " FROM files f"
         " LEFT JOIN seeders s ON s.file_pk = f.pk LEFT JOIN users u ON u.pk = s.user_pk"
         " WHERE f.pk IN (SELECT pk FROM files WHERE group_pk = ?1 AND name > ?2"
         " ORDER BY name LIMIT ?3) ORDER BY f.name, f.pk, s.rowid"},
        {&st.seeders_of,
         "SELECT u.user_id, s.listen_addr, s.user_pk FROM seeders s"
         " JOIN users u ON u.pk = s.user_pk"
         " WHERE s.file_pk = ?1 ORDER BY s.rowid"},
        {&st.delete_user_seeders_of_file,
         "DELETE FROM seeders WHERE file_pk = ?1 AND user_pk = ?2"},
        {&st.delete_user_seeders_in_group,
         "DELETE FROM seeders WHERE user_pk = ?2"
         " AND file_pk IN (SELECT pk FROM files WHERE group_pk = ?1)"},
        {&st.delete_file_if_unseeded,
         "DELETE FROM files WHERE pk = ?1"
         " AND NOT EXISTS (SELECT 1 FROM seeders s WHERE s.file_pk = files.pk)"},
        {&st.delete_unseeded_files_in_group,
         "DELETE FROM files WHERE group_pk = ?1"
         " AND NOT EXISTS (SELECT 1 FROM seeders s WHERE s.file_pk = files.pk)"},
        {&st.seeder_exists,
         "SELECT 1 FROM seeders WHERE file_pk = ?1 AND user_pk = ?2 AND listen_addr = ?3"},
        {&st.count_user_seeders_of_file,
         "SELECT count(*) FROM seeders WHERE file_pk = ?1 AND user_pk = ?2"},
        // The user's oldest address for the file: rows are added in time order, so the lowest
        // rowid.
        {&st.delete_oldest_user_seeder_of_file,
         "DELETE FROM seeders WHERE rowid = (SELECT rowid FROM seeders"
         " WHERE file_pk = ?1 AND user_pk = ?2 ORDER BY rowid LIMIT 1)"},
        {&st.delete_file, "DELETE FROM files WHERE pk = ?1"},  // seeders go by ON DELETE CASCADE
        {&st.info_hash_elsewhere,
         "SELECT EXISTS (SELECT 1 FROM files WHERE info_hash = ?2 AND group_pk != ?1),"
         " EXISTS (SELECT 1 FROM files f JOIN seeders s ON s.file_pk = f.pk"
         " WHERE f.info_hash = ?2 AND f.group_pk != ?1 AND s.user_pk = ?3)"},
        {&st.uploads_by,
         "SELECT coalesce(sum(group_pk = ?2), 0), count(*) FROM files WHERE uploaded_by = ?1"},

        {&st.delete_sessions_of_user, "DELETE FROM sessions WHERE user_pk = ?1"},
    };
    for (const auto& item : items) {
        auto prepared = Statement::prepare(db, item.sql);
        if (!prepared) return prepared.error();
        *item.statement = std::move(prepared).value();
    }
    return {};
}

std::string utc_text(TimePoint t) {
    auto secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

Error storage_error(std::string_view operation, const Error& cause) {
    log::error("store: {} failed: {}", operation, cause.message);
    return make_error(Errc::Internal, "the tracker could not use its database; try again later");
}

}  // namespace gs::tracker
