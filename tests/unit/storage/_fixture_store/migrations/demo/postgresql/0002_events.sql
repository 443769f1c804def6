CREATE TABLE events (id BIGSERIAL PRIMARY KEY, note TEXT NOT NULL CHECK (note <> ''));
INSERT INTO counters (name, value) VALUES ('seeded; by 0002', 1);
