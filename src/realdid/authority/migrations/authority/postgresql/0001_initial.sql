-- The identity authority's operational store (see realdid/authority/_store.py); the same
-- tables as the SQLite migration, with BYTEA for BLOB and BIGINT for times.
CREATE TABLE IF NOT EXISTS challenges (
    nonce TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS c_nonces (
    nonce TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    subject TEXT PRIMARY KEY, window_start BIGINT NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS enrollments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'resident' | 'enterprise'
    subject_ref TEXT NOT NULL,       -- HMAC of the ID number / credit code
    did TEXT NOT NULL,
    state TEXT NOT NULL,             -- 'active' | 'superseded' | 'revoked'
    profile BYTEA,                   -- sealed (data key): what later site proofs need
    escrow_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS enrollments_active_subject
    ON enrollments(kind, subject_ref) WHERE state = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS enrollments_active_did
    ON enrollments(did) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS enrollments_subject ON enrollments(subject_ref);
CREATE TABLE IF NOT EXISTS escrow (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, sealed BYTEA NOT NULL, created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    id TEXT PRIMARY KEY,
    enrollment_id TEXT NOT NULL,
    type TEXT NOT NULL,
    subject_ref TEXT NOT NULL,       -- HMAC of the holder DID
    state TEXT NOT NULL,             -- 'offered' | 'issued' | 'revoked'
    pending BYTEA,                   -- sealed (data key) claims until issued, then NULL
    status_list INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    issued_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT,
    revocation_reason TEXT,
    UNIQUE (status_list, status_index)
);
CREATE INDEX IF NOT EXISTS credentials_enrollment ON credentials(enrollment_id);
CREATE INDEX IF NOT EXISTS credentials_subject ON credentials(subject_ref);
CREATE TABLE IF NOT EXISTS grants (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'pre-authorized-code' | 'access-token'
    credential_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS grants_credential ON grants(credential_id);
CREATE TABLE IF NOT EXISTS status_lists (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, allocated INTEGER NOT NULL,
    revision INTEGER NOT NULL
);

-- Operators of the admin API (realdid/authority/_operators.py): only token hashes.
-- seq keeps the order operators were added in.
CREATE TABLE IF NOT EXISTS operators (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- The append-only, hash-chained audit log (realdid/authority/_audit.py). As on SQLite,
-- triggers refuse UPDATE, DELETE (and TRUNCATE, which skips row triggers), and an INSERT
-- whose seq or prev_hash does not extend the head; the literal is the genesis hash, 64
-- zeros (GENESIS_HASH). The functions keep the schema's search_path, so they check this
-- schema's audit_log whatever the caller's path.
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused';
END
$$;
CREATE FUNCTION audit_log_extends_head() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.seq IS DISTINCT FROM (SELECT coalesce(max(seq), 0) + 1 FROM audit_log)
       OR NEW.prev_hash IS DISTINCT FROM coalesce(
              (SELECT entry_hash FROM audit_log WHERE seq = NEW.seq - 1),
              '0000000000000000000000000000000000000000000000000000000000000000') THEN
        RAISE EXCEPTION 'audit_log is append-only: INSERT must extend the head';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_extends_head BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_extends_head();
