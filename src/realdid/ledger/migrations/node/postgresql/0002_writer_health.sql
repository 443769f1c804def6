-- What the node's writer process last reported, for the /healthz of every process.
CREATE TABLE IF NOT EXISTS writer_health (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    pid         BIGINT NOT NULL,
    error       TEXT,
    since       BIGINT NOT NULL,
    bad_peers   TEXT NOT NULL,
    reported_at BIGINT NOT NULL
);
