-- The solo ledger's signed block log (see realdid/ledger/_solo.py).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    height          INTEGER PRIMARY KEY,
    previous_hash   TEXT    NOT NULL,
    timestamp       INTEGER NOT NULL,
    batch_hash      TEXT    NOT NULL,
    merkle_root     TEXT    NOT NULL,
    operation_count INTEGER NOT NULL,
    signer          TEXT    NOT NULL,
    block_hash      TEXT    NOT NULL,
    signature       BLOB    NOT NULL
);
INSERT INTO meta (key, value) VALUES ('format', 'realdid-solo-v1') ON CONFLICT (key) DO NOTHING;
