-- Trigger states of the scheduler: one row per (flow, trigger). `next_fire_at` (epoch
-- seconds) is always set, so the due ones are an index range scan; `execution_id` is the
-- lock (one running execution per trigger); `backfill` is a JSON object or NULL.
CREATE TABLE triggers (
    namespace    TEXT COLLATE "C" NOT NULL,
    flow_id      TEXT COLLATE "C" NOT NULL,
    trigger_id   TEXT COLLATE "C" NOT NULL,
    next_fire_at DOUBLE PRECISION NOT NULL,
    execution_id TEXT COLLATE "C",
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    backfill     TEXT COLLATE "C",
    fingerprint  TEXT COLLATE "C" NOT NULL DEFAULT '',
    updated      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, flow_id, trigger_id)
);
CREATE INDEX triggers_next_fire ON triggers (next_fire_at);
CREATE INDEX triggers_execution ON triggers (execution_id) WHERE execution_id IS NOT NULL;
CREATE INDEX triggers_updated ON triggers (updated);
