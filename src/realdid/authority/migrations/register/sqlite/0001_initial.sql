-- The population register, loaded from the civil register's CSV (realdid/authority/_register.py).
CREATE TABLE IF NOT EXISTS residents (
    id_number TEXT PRIMARY KEY,
    family_name TEXT NOT NULL,
    given_name TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    region_code TEXT NOT NULL,
    face_template BLOB NOT NULL
) WITHOUT ROWID;
