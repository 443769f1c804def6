-- The demo forum's accounts, used logins and posts (see realdid/web/_forum.py).
CREATE TABLE IF NOT EXISTS accounts (
    did TEXT PRIMARY KEY,
    pseudonym TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS used_logins (
    transaction_hash BLOB PRIMARY KEY,
    used_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    did TEXT NOT NULL REFERENCES accounts(did),
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
