-- The registry node's database (see realdid/ledger/_store.py).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash BYTEA NOT NULL UNIQUE,
    suffix TEXT NOT NULL,
    body BYTEA NOT NULL,
    received BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_suffix ON queue (suffix);
CREATE TABLE IF NOT EXISTS operations (
    hash BYTEA PRIMARY KEY,
    sequence BIGINT NOT NULL,
    leaf INTEGER NOT NULL,
    applied SMALLINT NOT NULL,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS dids (suffix BYTEA PRIMARY KEY, state BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS anchors (
    sequence BIGINT PRIMARY KEY,
    anchor TEXT NOT NULL,
    leaves BYTEA NOT NULL,
    valid SMALLINT NOT NULL,
    reason TEXT
);
INSERT INTO meta (key, value) VALUES ('schema', '2') ON CONFLICT (key) DO NOTHING;
