-- Login requests of one relying party (see realdid/rp/_store.py).
CREATE TABLE IF NOT EXISTS login_requests (
    request_id  TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE,
    code        TEXT NOT NULL UNIQUE,
    nonce       TEXT NOT NULL,
    state       TEXT NOT NULL UNIQUE,
    query       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    answered    INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT
);
CREATE INDEX IF NOT EXISTS login_requests_expiry ON login_requests (expires_at);
