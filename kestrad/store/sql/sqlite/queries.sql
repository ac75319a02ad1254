-- Named queries of the SQLite store. `-- name: X` starts a query; see store/queries.py.

-- name: flow_insert
INSERT INTO flows (namespace, id, revision, source, hash, file, disabled, deleted, updated)
VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?);

-- name: flow_latest
SELECT namespace, id, revision, source, hash, file, disabled, deleted
FROM flows WHERE namespace = ? AND id = ? ORDER BY revision DESC LIMIT 1;

-- name: flow_revision
SELECT namespace, id, revision, source, hash, file, disabled, deleted
FROM flows WHERE namespace = ? AND id = ? AND revision = ?;

-- name: flow_list_latest
SELECT f.namespace, f.id, f.revision, f.source, f.hash, f.file, f.disabled, f.deleted
FROM flows f
JOIN (SELECT namespace, id, max(revision) AS revision FROM flows GROUP BY namespace, id) m
  ON f.namespace = m.namespace AND f.id = m.id AND f.revision = m.revision
ORDER BY f.namespace, f.id;

-- name: flow_set_flags
UPDATE flows SET disabled = ?, deleted = ?, updated = ? WHERE namespace = ? AND id = ? AND revision = ?;

-- name: execution_upsert
INSERT INTO executions (id, namespace, flow_id, flow_revision, state, start_date, end_date, trigger_execution_id, value)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET state = excluded.state, end_date = excluded.end_date, value = excluded.value;

-- name: execution_get
SELECT value FROM executions WHERE id = ?;

-- name: execution_running_count
SELECT count(*) FROM executions
WHERE namespace = ? AND flow_id = ? AND state IN ('RUNNING', 'PAUSED', 'RETRYING', 'KILLING', 'RESTARTED');

-- name: execution_queued_ids
SELECT id FROM executions
WHERE namespace = ? AND flow_id = ? AND state = 'QUEUED'
ORDER BY start_date, id LIMIT ?;

-- name: execution_by_trigger
SELECT value FROM executions WHERE trigger_execution_id = ?;

-- name: queue_execution_insert
INSERT INTO queue_execution (key, payload, available_at) VALUES (?, ?, ?);

-- name: queue_execution_poll
SELECT seq, key, payload FROM queue_execution
WHERE available_at <= ? AND claimed_by IS NULL
ORDER BY seq LIMIT ?;

-- name: queue_execution_delete
DELETE FROM queue_execution WHERE seq = ?;

-- name: queue_execution_next_due
SELECT min(available_at) FROM queue_execution WHERE claimed_by IS NULL;

-- name: queue_worker_insert
INSERT INTO queue_worker (key, payload, available_at) VALUES (?, ?, ?);

-- name: queue_worker_insert_claimed
INSERT INTO queue_worker (key, payload, available_at, claimed_by, claimed_at) VALUES (?, ?, ?, ?, ?);

-- name: queue_worker_poll
SELECT seq, key, payload FROM queue_worker
WHERE claimed_by IS NULL AND available_at <= ?
ORDER BY seq LIMIT ?;

-- name: queue_worker_claim
UPDATE queue_worker SET claimed_by = ?, claimed_at = ? WHERE seq = ?;

-- name: queue_worker_delete
DELETE FROM queue_worker WHERE seq = ?;

-- name: queue_worker_release_dead
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL
WHERE claimed_by IS NOT NULL AND claimed_by NOT IN (SELECT id FROM service_instance WHERE state = 'RUNNING');

-- name: log_max_seq
SELECT coalesce(max(seq), 0) FROM logs;

-- name: log_insert
INSERT INTO logs (seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: log_list
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?;

-- name: log_tail
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs WHERE seq > ? ORDER BY seq LIMIT ?;

-- name: instance_register
INSERT INTO service_instance (id, host, pid, roles, started, heartbeat, state) VALUES (?, ?, ?, ?, ?, ?, 'RUNNING');

-- A heartbeat also revives an instance marked DISCONNECTED while it was only slow: its
-- claims were handed out already, and new ones must not be released again.
-- name: instance_heartbeat
UPDATE service_instance SET heartbeat = ?, state = 'RUNNING'
WHERE id = ? AND state IN ('RUNNING', 'DISCONNECTED');

-- name: instance_disconnect_silent
UPDATE service_instance SET state = 'DISCONNECTED'
WHERE state = 'RUNNING' AND heartbeat < ? AND id <> ?
RETURNING id;

-- name: queue_worker_release_instance
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = ?;

-- name: instance_purge
DELETE FROM service_instance WHERE state <> 'RUNNING' AND heartbeat < ?;

-- name: instance_list
SELECT id, roles, host, pid, started, heartbeat, state FROM service_instance
ORDER BY state = 'RUNNING' DESC, started DESC;

-- name: instance_set_state
UPDATE service_instance SET state = ? WHERE id = ?;

-- name: instance_running
SELECT id, host, pid, heartbeat FROM service_instance WHERE state = 'RUNNING';

-- Executions list (API search, `kestrad executions list`): keyset pagination on
-- (start_date, id), newest first. The first page passes the sentinel ('~', '') which sorts
-- after every ISO date; `OFFSET` is only for Kestra's page numbers (0 otherwise). One
-- query per filter combination, each an exact match on the leading columns of its own
-- index (010_execution_list_indexes.sql), so a page is one index range scan stopping at
-- LIMIT.

-- name: execution_search_all
SELECT value FROM executions
WHERE (start_date, id) < (:after_date, :after_id)
ORDER BY start_date DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: execution_search_namespace
SELECT value FROM executions
WHERE namespace = :namespace AND (start_date, id) < (:after_date, :after_id)
ORDER BY start_date DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: execution_search_flow
SELECT value FROM executions
WHERE namespace = :namespace AND flow_id = :flow_id AND (start_date, id) < (:after_date, :after_id)
ORDER BY start_date DESC, id DESC LIMIT :limit OFFSET :offset;

-- A flow id without its namespace (Kestra allows it); a state filter is checked on that
-- flow's rows only.
-- name: execution_search_flow_id
SELECT value FROM executions
WHERE flow_id = :flow_id AND (:state IS NULL OR state = :state)
  AND (start_date, id) < (:after_date, :after_id)
ORDER BY start_date DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: execution_search_state
SELECT value FROM executions
WHERE state = :state AND (start_date, id) < (:after_date, :after_id)
ORDER BY start_date DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: execution_search_namespace_state
SELECT value FROM executions
WHERE namespace = :namespace AND state = :state AND (start_date, id) < (:after_date, :after_id)
ORDER BY start_date DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: execution_search_flow_state
SELECT value FROM executions
WHERE namespace = :namespace AND flow_id = :flow_id AND state = :state
  AND (start_date, id) < (:after_date, :after_id)
ORDER BY start_date DESC, id DESC LIMIT :limit OFFSET :offset;

-- Counts, only when a caller asks: the same filters, the same indexes.

-- name: execution_count_all
SELECT count(*) FROM executions;

-- name: execution_count_namespace
SELECT count(*) FROM executions WHERE namespace = :namespace;

-- name: execution_count_flow
SELECT count(*) FROM executions WHERE namespace = :namespace AND flow_id = :flow_id;

-- name: execution_count_flow_id
SELECT count(*) FROM executions WHERE flow_id = :flow_id AND (:state IS NULL OR state = :state);

-- name: execution_count_state
SELECT count(*) FROM executions WHERE state = :state;

-- name: execution_count_namespace_state
SELECT count(*) FROM executions WHERE namespace = :namespace AND state = :state;

-- name: execution_count_flow_state
SELECT count(*) FROM executions WHERE namespace = :namespace AND flow_id = :flow_id AND state = :state;

-- name: execution_active
SELECT id, state FROM executions
WHERE state IN ('CREATED', 'SUBMITTED', 'RUNNING', 'PAUSED', 'RESTARTED', 'KILLING', 'QUEUED', 'RETRYING');

-- name: queue_execution_stats
SELECT count(*), min(CASE WHEN claimed_by IS NULL AND available_at <= ? THEN available_at END)
FROM queue_execution;

-- name: queue_worker_stats
SELECT count(*), min(CASE WHEN claimed_by IS NULL AND available_at <= ? THEN available_at END)
FROM queue_worker;

-- name: ping
SELECT 1;

-- name: queue_worker_claimed_count
SELECT count(*) FROM queue_worker WHERE claimed_by = ?;

-- name: log_search_after
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE seq > ?1 AND (?2 IS NULL OR execution_id = ?2) AND (?3 IS NULL OR namespace = ?3)
  AND (?4 IS NULL OR flow_id = ?4) AND (?5 IS NULL OR level IN (SELECT value FROM json_each(?5)))
ORDER BY seq LIMIT ?6;

-- name: log_search_latest
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE (?1 IS NULL OR execution_id = ?1) AND (?2 IS NULL OR namespace = ?2)
  AND (?3 IS NULL OR flow_id = ?3) AND (?4 IS NULL OR level IN (SELECT value FROM json_each(?4)))
ORDER BY seq DESC LIMIT ?5;

-- Scheduler trigger states (see 003_triggers.sql).

-- name: trigger_load_all
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers;

-- name: trigger_get
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers WHERE namespace = ? AND flow_id = ? AND trigger_id = ?;

-- name: trigger_list
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers
WHERE (?1 IS NULL OR namespace = ?1) AND (?2 IS NULL OR flow_id = ?2)
ORDER BY namespace, flow_id, trigger_id LIMIT ?3;

-- name: trigger_updated_since
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers WHERE updated > ? ORDER BY updated;

-- name: trigger_upsert
INSERT INTO triggers (namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE SET
  next_fire_at = excluded.next_fire_at, execution_id = excluded.execution_id,
  disabled = excluded.disabled, backfill = excluded.backfill,
  fingerprint = excluded.fingerprint, updated = excluded.updated;

-- name: trigger_delete
DELETE FROM triggers WHERE namespace = ? AND flow_id = ? AND trigger_id = ?;

-- name: execution_states_of
SELECT id, state, start_date FROM executions WHERE id IN (SELECT value FROM json_each(?));

-- name: trigger_window_get
SELECT namespace, flow_id, trigger_id, condition_id, start_at, end_at, results, outputs
FROM trigger_windows
WHERE namespace = ? AND flow_id = ? AND trigger_id = ? AND condition_id = ?;

-- name: trigger_window_upsert
INSERT INTO trigger_windows (namespace, flow_id, trigger_id, condition_id, start_at, end_at, results, outputs)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, flow_id, trigger_id, condition_id) DO UPDATE SET
  start_at = excluded.start_at, end_at = excluded.end_at,
  results = excluded.results, outputs = excluded.outputs;

-- name: trigger_window_delete
DELETE FROM trigger_windows
WHERE namespace = ? AND flow_id = ? AND trigger_id = ? AND condition_id = ?;

-- name: trigger_window_delete_expired
DELETE FROM trigger_windows WHERE end_at < ?;

-- name: trigger_release_lock
-- `updated` moves so the scheduler sees the release at its next sync (epoch seconds).
UPDATE triggers SET execution_id = NULL, updated = (julianday('now') - 2440587.5) * 86400.0
WHERE namespace = ? AND flow_id = ? AND trigger_id = ? AND execution_id = ?;

-- KV store (see 006_kv.sql).

-- name: kv_get
SELECT namespace, key, value, type, description, expires_at, updated
FROM kv WHERE namespace = ? AND key = ?;

-- name: kv_upsert
INSERT INTO kv (namespace, key, value, type, description, expires_at, updated)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, key) DO UPDATE SET
  value = excluded.value, type = excluded.type, description = excluded.description,
  expires_at = excluded.expires_at, updated = excluded.updated;

-- name: kv_delete
DELETE FROM kv WHERE namespace = ? AND key = ?;

-- name: kv_list
SELECT namespace, key, value, type, description, expires_at, updated
FROM kv WHERE (?1 IS NULL OR namespace = ?1) ORDER BY namespace, key;

-- name: kv_stamp
SELECT count(*), coalesce(max(updated), 0) FROM kv;

-- Maintenance tasks (execution.Count, execution.PurgeExecutions, log.PurgeLogs). Dates are
-- ISO-8601 UTC strings written like `now_iso`, so they compare as text.

-- name: execution_count_by_flow
SELECT namespace, flow_id, count(*) FROM executions
WHERE (:start IS NULL OR start_date >= :start) AND (:end IS NULL OR start_date <= :end)
  AND (:states IS NULL OR state IN (SELECT value FROM json_each(:states)))
  AND (:namespaces IS NULL OR namespace IN (SELECT value FROM json_each(:namespaces)))
  AND (:flows IS NULL OR namespace || '/' || flow_id IN (SELECT value FROM json_each(:flows)))
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- name: execution_ended_page
SELECT id, namespace, flow_id FROM executions
WHERE id > :after AND state IN (SELECT value FROM json_each(:states))
  AND (:namespace IS NULL
       OR (:flow_id IS NOT NULL AND namespace = :namespace)
       OR (:flow_id IS NULL AND (namespace = :namespace
                                 OR substr(namespace, 1, length(:namespace) + 1) = :namespace || '.')))
  AND (:flow_id IS NULL OR flow_id = :flow_id)
  AND (:start IS NULL OR start_date >= :start) AND start_date <= :end
ORDER BY id LIMIT :limit;

-- name: execution_delete
DELETE FROM executions WHERE id = ?;

-- name: log_delete_execution
DELETE FROM logs WHERE execution_id = ?;

-- One batch of at most :limit lines (the store repeats it, one transaction each, until a
-- batch comes back short): a purge of millions of lines never holds the writer for long.
-- name: log_purge
DELETE FROM logs WHERE seq IN (
  SELECT seq FROM logs
  WHERE (:namespace IS NULL
         OR (:flow_id IS NOT NULL AND namespace = :namespace)
         OR (:flow_id IS NULL AND (namespace = :namespace
                                   OR substr(namespace, 1, length(:namespace) + 1) = :namespace || '.')))
    AND (:flow_id IS NULL OR flow_id = :flow_id)
    AND (:execution_id IS NULL OR execution_id = :execution_id)
    AND (:levels IS NULL OR level IN (SELECT value FROM json_each(:levels)))
    AND (:start IS NULL OR timestamp >= :start) AND timestamp <= :end
  LIMIT :limit);

-- name: trigger_load_all_with_last_fire
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated, last_fire_at
FROM triggers;

-- name: trigger_upsert_with_last_fire
INSERT INTO triggers (namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated, last_fire_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE SET
  next_fire_at = excluded.next_fire_at, execution_id = excluded.execution_id,
  disabled = excluded.disabled, backfill = excluded.backfill,
  fingerprint = excluded.fingerprint, updated = excluded.updated,
  last_fire_at = excluded.last_fire_at;

-- Scheduler lease (see 011_scheduler_lease.sql): taken or renewed when free, expired or
-- already ours; a row comes back only then.
-- name: scheduler_lease_claim
INSERT INTO scheduler_lease (name, holder, expires_at)
VALUES ('scheduler', ?1, ?2 + ?3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE scheduler_lease.holder = excluded.holder OR scheduler_lease.expires_at < ?2
RETURNING holder;

-- name: scheduler_lease_release
DELETE FROM scheduler_lease WHERE name = 'scheduler' AND holder = ?1;

-- name: scheduler_lease_get
SELECT holder, expires_at - ?1 AS remaining FROM scheduler_lease WHERE name = 'scheduler';

-- Housekeeping: every queue message of ended (or purged) executions, by key (index on
-- key). Run in the transaction that ends them: delayed timers (retries, SLAs, pauses) and
-- worker jobs not yet run would otherwise wait for their due time, or run a task of an
-- execution that was killed.
-- name: queue_execution_delete_keys
DELETE FROM queue_execution WHERE key = ?;

-- name: queue_worker_delete_keys
DELETE FROM queue_worker WHERE key = ?;

-- Jobs of a claim attempt whose answer was lost (see Store.release_worker_claims).
-- name: queue_worker_release_stamp
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL
WHERE claimed_by = ? AND claimed_at = ?;
