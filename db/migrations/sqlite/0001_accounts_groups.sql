-- Accounts, sessions, groups, memberships and join requests.
-- Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SSZ': they read as they are and sort as text.
-- Rows point at each other by integer `pk`; the *_view views show the same rows by name.

CREATE TABLE users (
    pk            INTEGER PRIMARY KEY,
    user_id       TEXT NOT NULL UNIQUE CHECK (length(user_id) BETWEEN 1 AND 64),
    password_hash TEXT NOT NULL,  -- argon2id encoded string: '$argon2id$v=19$m=...'
    created_at    TEXT NOT NULL
);

-- A login. Only a hash of the token is kept, so a copy of this table cannot be used to log in.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,  -- lower-case hex BLAKE2b-256 of the 32 random token bytes
    user_pk    INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_pk);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

CREATE TABLE groups (
    pk         INTEGER PRIMARY KEY,
    group_id   TEXT NOT NULL UNIQUE CHECK (length(group_id) BETWEEN 1 AND 64),
    owner_pk   INTEGER NOT NULL REFERENCES users(pk),
    created_at TEXT NOT NULL
);

-- `seq` gives the join order, also between members who joined in the same second; when the
-- owner leaves, the member with the lowest seq becomes the owner.
CREATE TABLE memberships (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    group_pk  INTEGER NOT NULL REFERENCES groups(pk) ON DELETE CASCADE,
    user_pk   INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    joined_at TEXT NOT NULL,
    UNIQUE (group_pk, user_pk)
);
CREATE INDEX memberships_by_user ON memberships(user_pk);

-- Pending requests only: accepting or rejecting one deletes its row.
CREATE TABLE join_requests (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_pk     INTEGER NOT NULL REFERENCES groups(pk) ON DELETE CASCADE,
    user_pk      INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    requested_at TEXT NOT NULL,
    UNIQUE (group_pk, user_pk)
);
CREATE INDEX join_requests_by_user ON join_requests(user_pk);

CREATE VIEW members_view AS
    SELECT g.group_id AS "group", u.user_id AS user, m.joined_at,
           (g.owner_pk = u.pk) AS is_owner, m.seq
    FROM memberships m JOIN groups g ON g.pk = m.group_pk JOIN users u ON u.pk = m.user_pk;

CREATE VIEW join_requests_view AS
    SELECT g.group_id AS "group", u.user_id AS user, r.requested_at, r.seq
    FROM join_requests r JOIN groups g ON g.pk = r.group_pk JOIN users u ON u.pk = r.user_pk;
