-- The registry node's database (see realdid/ledger/_store.py).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash BLOB NOT NULL UNIQUE,
    suffix TEXT NOT NULL,
    body BLOB NOT NULL,
    received INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_suffix ON queue (suffix);
CREATE TABLE IF NOT EXISTS operations (
    hash BLOB PRIMARY KEY,
    sequence INTEGER NOT NULL,
    leaf INTEGER NOT NULL,
    applied INTEGER NOT NULL,
    reason TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dids (suffix BLOB PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anchors (
    sequence INTEGER PRIMARY KEY,
    anchor TEXT NOT NULL,
    leaves BLOB NOT NULL,
    valid INTEGER NOT NULL,
    reason TEXT
);
-- 2: compact binary index entries keyed by suffix digest (a file of schema 1 is refused).
INSERT INTO meta (key, value) VALUES ('schema', '2') ON CONFLICT (key) DO NOTHING;
