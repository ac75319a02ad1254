-- The initial schema: flows, executions, the two queue topics, task logs, instances.
CREATE TABLE flows (
    namespace   TEXT NOT NULL,
    id          TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    source      TEXT NOT NULL,
    hash        TEXT NOT NULL,
    file        TEXT,
    disabled    INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    updated     TEXT NOT NULL,
    PRIMARY KEY (namespace, id, revision)
);

CREATE TABLE executions (
    id                   TEXT PRIMARY KEY,
    namespace            TEXT NOT NULL,
    flow_id              TEXT NOT NULL,
    flow_revision        INTEGER NOT NULL,
    state                TEXT NOT NULL,
    start_date           TEXT NOT NULL,
    end_date             TEXT,
    trigger_execution_id TEXT,
    value                BLOB NOT NULL
);
CREATE INDEX executions_flow ON executions (namespace, flow_id, start_date);
CREATE INDEX executions_start ON executions (start_date);
CREATE INDEX executions_state ON executions (state);
CREATE INDEX executions_trigger ON executions (trigger_execution_id);

CREATE TABLE queue_execution (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL,
    payload      BLOB NOT NULL,
    available_at REAL NOT NULL,
    claimed_by   TEXT,
    claimed_at   REAL
);
CREATE INDEX queue_execution_key ON queue_execution (key);
CREATE INDEX queue_execution_available ON queue_execution (available_at);

CREATE TABLE queue_worker (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL,
    payload      BLOB NOT NULL,
    available_at REAL NOT NULL,
    claimed_by   TEXT,
    claimed_at   REAL
);
CREATE INDEX queue_worker_key ON queue_worker (key);
CREATE INDEX queue_worker_claimed ON queue_worker (claimed_by, seq);

CREATE TABLE logs (
    seq          INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    namespace    TEXT NOT NULL,
    flow_id      TEXT NOT NULL,
    task_id      TEXT,
    task_run_id  TEXT,
    attempt      INTEGER,
    level        TEXT NOT NULL,
    timestamp    TEXT NOT NULL,
    message      TEXT NOT NULL
);
CREATE INDEX logs_execution ON logs (execution_id, seq);

CREATE TABLE service_instance (
    id        TEXT PRIMARY KEY,
    host      TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    roles     TEXT NOT NULL,
    started   REAL NOT NULL,
    heartbeat REAL NOT NULL,
    state     TEXT NOT NULL
);
CREATE INDEX service_instance_heartbeat ON service_instance (heartbeat);
