-- The initial schema: flows, executions, the two queue topics, task logs, instances.
-- Execution values are msgspec JSON bytes (BYTEA): decoding them is the store's job, and
-- PostgreSQL never parses them; the columns beside the value are what queries filter on.
-- Text columns use the "C" collation: byte order, like SQLite's, so ISO dates, ids and the
-- keyset sentinel compare the same on every server, whatever its default locale.
CREATE TABLE flows (
    namespace   TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    revision    INTEGER NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    hash        TEXT COLLATE "C" NOT NULL,
    file        TEXT COLLATE "C",
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    updated     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, id, revision)
);

CREATE TABLE executions (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    namespace            TEXT COLLATE "C" NOT NULL,
    flow_id              TEXT COLLATE "C" NOT NULL,
    flow_revision        INTEGER NOT NULL,
    state                TEXT COLLATE "C" NOT NULL,
    start_date           TEXT COLLATE "C" NOT NULL,
    end_date             TEXT COLLATE "C",
    trigger_execution_id TEXT COLLATE "C",
    value                BYTEA NOT NULL
);
CREATE INDEX executions_flow ON executions (namespace, flow_id, start_date);
CREATE INDEX executions_start ON executions (start_date);
CREATE INDEX executions_state ON executions (state);
CREATE INDEX executions_trigger ON executions (trigger_execution_id);

-- Queue topics: rows are deleted once processed, so the tables stay small and hot. The
-- partial indexes lead with `seq`, the claim queries' ORDER BY, and carry `available_at`,
-- their filter, so a claim is an index range scan that stops at LIMIT with no sort.
CREATE TABLE queue_execution (
    seq          BIGSERIAL PRIMARY KEY,
    key          TEXT COLLATE "C" NOT NULL,
    payload      BYTEA NOT NULL,
    available_at DOUBLE PRECISION NOT NULL,
    claimed_by   TEXT COLLATE "C",
    claimed_at   DOUBLE PRECISION
);
CREATE INDEX queue_execution_key ON queue_execution (key);
CREATE INDEX queue_execution_available ON queue_execution (available_at);
CREATE INDEX queue_execution_due ON queue_execution (seq, available_at) WHERE claimed_by IS NULL;

CREATE TABLE queue_worker (
    seq          BIGSERIAL PRIMARY KEY,
    key          TEXT COLLATE "C" NOT NULL,
    payload      BYTEA NOT NULL,
    available_at DOUBLE PRECISION NOT NULL,
    claimed_by   TEXT COLLATE "C",
    claimed_at   DOUBLE PRECISION
);
CREATE INDEX queue_worker_key ON queue_worker (key);
CREATE INDEX queue_worker_claimed ON queue_worker (claimed_by, seq);
CREATE INDEX queue_worker_due ON queue_worker (seq, available_at) WHERE claimed_by IS NULL;

CREATE TABLE logs (
    seq          BIGSERIAL PRIMARY KEY,
    execution_id TEXT COLLATE "C" NOT NULL,
    namespace    TEXT COLLATE "C" NOT NULL,
    flow_id      TEXT COLLATE "C" NOT NULL,
    task_id      TEXT COLLATE "C",
    task_run_id  TEXT COLLATE "C",
    attempt      INTEGER,
    level        TEXT COLLATE "C" NOT NULL,
    timestamp    TEXT COLLATE "C" NOT NULL,
    message      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX logs_execution ON logs (execution_id, seq);

CREATE TABLE service_instance (
    id        TEXT COLLATE "C" PRIMARY KEY,
    host      TEXT COLLATE "C" NOT NULL,
    pid       INTEGER NOT NULL,
    roles     TEXT COLLATE "C" NOT NULL,
    started   DOUBLE PRECISION NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL,
    state     TEXT COLLATE "C" NOT NULL
);
CREATE INDEX service_instance_heartbeat ON service_instance (heartbeat);
