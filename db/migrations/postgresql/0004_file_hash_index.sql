-- PostgreSQL twin of db/migrations/sqlite/0004_file_hash_index.sql: upload_file asks whether an
-- info hash is already shared in another group and counts the files an account added, by index.
CREATE INDEX files_by_info_hash ON files(info_hash);
