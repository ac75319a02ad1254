-- The KV store: one row per (namespace, key). `value` is the JSON encoding of the value,
-- `type` its Kestra KV type (STRING, NUMBER, BOOLEAN, DATETIME, DATE, DURATION, JSON);
-- `expires_at` (epoch seconds) NULL means never. Expired rows read as missing.
CREATE TABLE kv (
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    type        TEXT NOT NULL,
    description TEXT,
    expires_at  REAL,
    updated     REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
