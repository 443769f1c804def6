-- What the node's writer process last reported, for the /healthz of every process.
CREATE TABLE IF NOT EXISTS writer_health (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    pid         INTEGER NOT NULL,
    error       TEXT,
    since       INTEGER NOT NULL,
    bad_peers   TEXT NOT NULL,
    reported_at INTEGER NOT NULL
);
