-- The number of DIDs in the index, kept by every anchor's commit (RegistryStore.did_count):
-- the explorer shows it on a public page, where count(*) would read every partition.
INSERT INTO meta (key, value) SELECT 'did_count', count(*)::text FROM dids
    ON CONFLICT (key) DO NOTHING;
