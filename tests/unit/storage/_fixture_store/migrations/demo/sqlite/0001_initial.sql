-- The test store: one table of named counters.
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    blob BLOB
) WITHOUT ROWID;
