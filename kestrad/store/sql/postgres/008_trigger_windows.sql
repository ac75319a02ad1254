-- Time windows of Flow triggers with `preconditions` or a MultipleCondition: which named
-- conditions upstream executions already satisfied inside the current window. Read and
-- written in the executor's batch transaction, so two executions ending in one batch (or
-- in two daemons) cannot both miss each other. `results` maps a condition name to the
-- instant (epoch seconds) it was last satisfied; `outputs` merges the upstream outputs.
CREATE TABLE trigger_windows (
    namespace    TEXT COLLATE "C" NOT NULL,
    flow_id      TEXT COLLATE "C" NOT NULL,
    trigger_id   TEXT COLLATE "C" NOT NULL,
    condition_id TEXT COLLATE "C" NOT NULL,
    start_at     DOUBLE PRECISION NOT NULL,
    end_at       DOUBLE PRECISION NOT NULL,
    results      TEXT COLLATE "C" NOT NULL,
    outputs      TEXT COLLATE "C",
    PRIMARY KEY (namespace, flow_id, trigger_id, condition_id)
);
-- Expired windows are purged by range on every batch that writes windows.
CREATE INDEX trigger_windows_end ON trigger_windows (end_at);
