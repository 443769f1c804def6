-- The business register, loaded from the market regulator's CSV (realdid/authority/_business.py).
CREATE TABLE IF NOT EXISTS enterprises (
    uscc TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    legal_representative TEXT NOT NULL,
    registered_on TEXT NOT NULL,
    region_code TEXT NOT NULL
) WITHOUT ROWID;
