-- The index and the outcomes, partitioned by hash, so that no one table holds a nation
-- (issue 12; docs/scaling.md): `dids` by DID suffix, `operations` by operation hash — the
-- key every lookup of each table names, so a lookup is pruned to one partition (tested:
-- tests/integration/test_postgres_partitions.py). 16 partitions of each: ~90 M DIDs per
-- partition at 1.4 billion. The rows of an existing node are moved in this transaction.
CREATE TABLE dids_by_suffix (suffix BYTEA PRIMARY KEY, state BYTEA NOT NULL)
    PARTITION BY HASH (suffix);
CREATE TABLE operations_by_hash (
    hash BYTEA PRIMARY KEY,
    sequence BIGINT NOT NULL,
    leaf INTEGER NOT NULL,
    applied SMALLINT NOT NULL,
    reason TEXT
) PARTITION BY HASH (hash);
DO $$
BEGIN
    FOR r IN 0..15 LOOP
        EXECUTE format(
            'CREATE TABLE dids_p%s PARTITION OF dids_by_suffix'
            ' FOR VALUES WITH (MODULUS 16, REMAINDER %s)', lpad(r::text, 2, '0'), r);
        EXECUTE format(
            'CREATE TABLE operations_p%s PARTITION OF operations_by_hash'
            ' FOR VALUES WITH (MODULUS 16, REMAINDER %s)', lpad(r::text, 2, '0'), r);
    END LOOP;
END
$$;
INSERT INTO dids_by_suffix (suffix, state) SELECT suffix, state FROM dids;
INSERT INTO operations_by_hash (hash, sequence, leaf, applied, reason)
    SELECT hash, sequence, leaf, applied, reason FROM operations;
DROP TABLE dids;
DROP TABLE operations;
ALTER TABLE dids_by_suffix RENAME TO dids;
ALTER TABLE operations_by_hash RENAME TO operations;
