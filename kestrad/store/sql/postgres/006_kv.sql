-- The KV store: one row per (namespace, key). `value` is the JSON encoding of the value,
-- `type` its Kestra KV type (STRING, NUMBER, BOOLEAN, DATETIME, DATE, DURATION, JSON);
-- `expires_at` (epoch seconds) NULL means never. Expired rows read as missing.
CREATE TABLE kv (
    namespace   TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    value       TEXT COLLATE "C" NOT NULL,
    type        TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    expires_at  DOUBLE PRECISION,
    updated     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, key)
);
