-- Shared files and who seeds them. A file belongs to one group; a file whose last seeder goes
-- away is deleted, so every row here has at least one seeder.

CREATE TABLE files (
    pk           INTEGER PRIMARY KEY,
    group_pk     INTEGER NOT NULL REFERENCES groups(pk) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    info_hash    TEXT NOT NULL  -- SHA1 of `info`, 40 lower-case hex digits
                 CHECK (length(info_hash) = 40 AND info_hash NOT GLOB '*[^0-9a-f]*'),
    info         BLOB NOT NULL,  -- the bencoded BitTorrent v1 info dictionary, as uploaded
    length       INTEGER NOT NULL CHECK (length >= 0),
    piece_length INTEGER NOT NULL CHECK (piece_length > 0),
    uploaded_by  INTEGER NOT NULL REFERENCES users(pk),
    created_at   TEXT NOT NULL,
    UNIQUE (group_pk, name),
    UNIQUE (group_pk, info_hash)
);

-- One row per (file, user, address the user's client serves pieces on).
CREATE TABLE seeders (
    file_pk     INTEGER NOT NULL REFERENCES files(pk) ON DELETE CASCADE,
    user_pk     INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    listen_addr TEXT NOT NULL,
    added_at    TEXT NOT NULL,
    UNIQUE (file_pk, user_pk, listen_addr)
);
CREATE INDEX seeders_by_user ON seeders(user_pk);
CREATE INDEX files_by_uploader ON files(uploaded_by);

CREATE VIEW seeders_view AS
    SELECT g.group_id AS "group", f.name AS file, f.info_hash, u.user_id AS user,
           s.listen_addr, s.added_at
    FROM seeders s JOIN files f ON f.pk = s.file_pk JOIN groups g ON g.pk = f.group_pk
                   JOIN users u ON u.pk = s.user_pk;
