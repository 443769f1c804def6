-- The EVM follower's confirmed anchors and scan position (see realdid/ledger/evm/_follower_state.py).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS anchors (
    sequence        BIGINT  PRIMARY KEY,
    batch_hash      TEXT    NOT NULL,
    merkle_root     TEXT    NOT NULL,
    operation_count BIGINT  NOT NULL,
    block_number    BIGINT  NOT NULL,
    block_hash      TEXT    NOT NULL,
    transaction_id  TEXT    NOT NULL,
    timestamp       BIGINT  NOT NULL,
    anchorer        TEXT    NOT NULL
);
