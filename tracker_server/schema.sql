-- GroupShare tracker schema. Creation is idempotent: run at every start.
-- The log is the order of every durable mutation; the other tables are the state it produces (store.apply_sql).
-- The log's oldest entries are compacted away (compaction.py): meta 'compacted_index'/'compacted_epoch' name the
-- last entry deleted, so the log holds the entries after it.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    idx    INTEGER PRIMARY KEY,
    epoch  INTEGER NOT NULL,
    op_id  TEXT NOT NULL UNIQUE,
    op     TEXT NOT NULL,      -- JSON
    result TEXT NOT NULL       -- JSON {"status", "body"}: the first answer, returned again to a retry
);
-- Local to each tracker, never replicated: "by time ``at`` (wall clock) this log reached index ``idx``". Compaction
-- (compaction.py) deletes an entry only once a mark older than the time window covers it.
CREATE TABLE IF NOT EXISTS log_marks (
    at  REAL NOT NULL,
    idx INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    pw_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token       TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL UNIQUE,
    peer_addr   TEXT NOT NULL,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS groups_ (
    group_id TEXT PRIMARY KEY,
    owner    TEXT NOT NULL
);
-- When each group was made (the log index of its creation; a group of an older tracker has no row): a name deleted
-- and taken again is a new group, which a node waiting on a request to join the old one must not take for it.
CREATE TABLE IF NOT EXISTS group_created (
    group_id TEXT PRIMARY KEY,
    idx      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    group_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    joined_seq INTEGER NOT NULL,   -- log index of the admission: "earliest-joined" is the smallest
    PRIMARY KEY (group_id, user_id)
);
CREATE TABLE IF NOT EXISTS requests (
    group_id TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE TABLE IF NOT EXISTS files (
    group_id     TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    size         INTEGER NOT NULL,
    piece_size   INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    piece_hashes BLOB NOT NULL,    -- the 32-byte digests, concatenated
    PRIMARY KEY (group_id, file_name)
);
CREATE TABLE IF NOT EXISTS shares (
    group_id  TEXT NOT NULL,
    file_name TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (group_id, file_name, user_id)
);
CREATE TABLE IF NOT EXISTS login_failures (  -- failed-login throttle records (tracker_server/throttle.py)
    key          TEXT PRIMARY KEY,  -- u:<user_id> or a:<address>
    count        INTEGER NOT NULL,
    last_at      REAL NOT NULL,
    locked_until REAL NOT NULL
);
