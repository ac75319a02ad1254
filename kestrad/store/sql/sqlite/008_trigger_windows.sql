-- Time windows of Flow triggers with `preconditions` or a MultipleCondition: which named
-- conditions upstream executions already satisfied inside the current window. Read and
-- written in the executor's batch transaction, so two executions ending in one batch (or
-- in two daemons) cannot both miss each other. `results` maps a condition name to the
-- instant (epoch seconds) it was last satisfied; `outputs` merges the upstream outputs.
CREATE TABLE trigger_windows (
    namespace    TEXT NOT NULL,
    flow_id      TEXT NOT NULL,
    trigger_id   TEXT NOT NULL,
    condition_id TEXT NOT NULL,
    start_at     REAL NOT NULL,
    end_at       REAL NOT NULL,
    results      TEXT NOT NULL,
    outputs      TEXT,
    PRIMARY KEY (namespace, flow_id, trigger_id, condition_id)
);
-- Expired windows are purged by range on every batch that writes windows.
CREATE INDEX trigger_windows_end ON trigger_windows (end_at);
