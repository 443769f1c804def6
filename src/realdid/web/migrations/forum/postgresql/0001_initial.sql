-- The demo forum's accounts, used logins and posts (see realdid/web/_forum.py).
CREATE TABLE IF NOT EXISTS accounts (
    did TEXT PRIMARY KEY,
    pseudonym TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS used_logins (
    transaction_hash BYTEA PRIMARY KEY,
    used_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS posts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    did TEXT NOT NULL REFERENCES accounts(did),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
