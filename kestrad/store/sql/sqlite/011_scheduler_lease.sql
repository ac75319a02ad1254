-- Scheduler leadership (see the PostgreSQL migration of the same number): one row per
-- lease name, renewed in every transaction that writes fires.
CREATE TABLE scheduler_lease (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at REAL NOT NULL
);
