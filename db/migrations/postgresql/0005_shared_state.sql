-- What several trackers on one PostgreSQL database share beyond the SQLite schema (PostgreSQL
-- only: an SQLite database has one tracker, which keeps these in memory or beside the file).

-- One row per running tracker process: its presence rows count while lease_until is ahead.
-- Each tracker renews its lease every few seconds (PgStore::heartbeat).
CREATE TABLE tracker_leases (
    tracker_id  TEXT PRIMARY KEY,  -- random per process
    lease_until TIMESTAMPTZ NOT NULL
);

-- Who is connected and logged in right now: one row per client connection of a tracker.
CREATE TABLE presence (
    tracker_id  TEXT NOT NULL REFERENCES tracker_leases(tracker_id) ON DELETE CASCADE,
    conn        BIGINT NOT NULL,  -- the connection's number inside that tracker process
    user_pk     BIGINT NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    listen_addr TEXT NOT NULL,
    PRIMARY KEY (tracker_id, conn)
);
CREATE INDEX presence_by_user ON presence(user_pk, listen_addr);

-- The Ed25519 key every tracker of the set signs download tickets with (SECURITY.md): one row,
-- made by the first tracker that starts.
CREATE TABLE ticket_key (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seed BYTEA NOT NULL CHECK (length(seed) = 32),
    created_at TEXT NOT NULL
);

-- Seeders with whether they are online now through any tracker of the set.
CREATE VIEW online_view AS
    SELECT u.user_id AS "user", p.listen_addr, p.tracker_id, l.lease_until
    FROM presence p JOIN users u ON u.pk = p.user_pk
                    JOIN tracker_leases l ON l.tracker_id = p.tracker_id
    WHERE l.lease_until > now();
