-- The EVM follower's confirmed anchors and scan position (see realdid/ledger/evm/_follower_state.py).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS anchors (
    sequence        INTEGER PRIMARY KEY,
    batch_hash      TEXT    NOT NULL,
    merkle_root     TEXT    NOT NULL,
    operation_count INTEGER NOT NULL,
    block_number    INTEGER NOT NULL,
    block_hash      TEXT    NOT NULL,
    transaction_id  TEXT    NOT NULL,
    timestamp       INTEGER NOT NULL,
    anchorer        TEXT    NOT NULL
);
