-- The identity authority's operational store (see realdid/authority/_store.py).
-- IF NOT EXISTS throughout: an authority.db written before migrations existed keeps its
-- rows (its operators table lacks seq, which only OperatorStore.list orders by).
CREATE TABLE IF NOT EXISTS challenges (
    nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS c_nonces (
    nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failures (
    subject TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS enrollments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'resident' | 'enterprise'
    subject_ref TEXT NOT NULL,       -- HMAC of the ID number / credit code
    did TEXT NOT NULL,
    state TEXT NOT NULL,             -- 'active' | 'superseded' | 'revoked'
    profile BLOB,                    -- sealed (data key): what later site proofs need
    escrow_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS enrollments_active_subject
    ON enrollments(kind, subject_ref) WHERE state = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS enrollments_active_did
    ON enrollments(did) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS enrollments_subject ON enrollments(subject_ref);
CREATE TABLE IF NOT EXISTS escrow (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, sealed BLOB NOT NULL, created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS credentials (
    id TEXT PRIMARY KEY,
    enrollment_id TEXT NOT NULL,
    type TEXT NOT NULL,
    subject_ref TEXT NOT NULL,       -- HMAC of the holder DID
    state TEXT NOT NULL,             -- 'offered' | 'issued' | 'revoked'
    pending BLOB,                    -- sealed (data key) claims until issued, then NULL
    status_list INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    issued_at INTEGER,
    expires_at INTEGER,
    revoked_at INTEGER,
    revocation_reason TEXT,
    UNIQUE (status_list, status_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS credentials_enrollment ON credentials(enrollment_id);
CREATE INDEX IF NOT EXISTS credentials_subject ON credentials(subject_ref);
CREATE TABLE IF NOT EXISTS grants (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'pre-authorized-code' | 'access-token'
    credential_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS grants_credential ON grants(credential_id);
CREATE TABLE IF NOT EXISTS status_lists (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, allocated INTEGER NOT NULL,
    revision INTEGER NOT NULL
);

-- Operators of the admin API (realdid/authority/_operators.py): only token hashes.
-- seq keeps the order operators were added in.
CREATE TABLE IF NOT EXISTS operators (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- The append-only, hash-chained audit log (realdid/authority/_audit.py). The triggers
-- refuse UPDATE and DELETE, and an INSERT whose seq or prev_hash does not extend the head
-- (which also stops INSERT OR REPLACE: SQLite's REPLACE deletes without delete triggers).
-- The literal is the chain's genesis hash, 64 zeros (GENESIS_HASH).
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_extends_head BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit_log)
  OR NEW.prev_hash IS NOT coalesce(
         (SELECT entry_hash FROM audit_log WHERE seq = NEW.seq - 1),
         '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: INSERT must extend the head'); END;
