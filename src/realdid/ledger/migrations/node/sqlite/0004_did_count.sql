-- The number of DIDs in the index, kept by every anchor's commit (RegistryStore.did_count):
-- the explorer shows it on a public page, where count(*) would read the whole index.
INSERT OR IGNORE INTO meta (key, value) SELECT 'did_count', CAST(count(*) AS TEXT) FROM dids;
