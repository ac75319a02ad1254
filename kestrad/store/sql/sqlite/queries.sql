-- Named queries of the SQLite store. `-- name: X` starts a query; see store/queries.py.
-- Every name exists in the PostgreSQL file too, with the same positional parameters
-- (`?N` here, `$N` there; see store/statements.py). A list parameter arrives as JSON
-- text (`json_each`). A query left empty does nothing here: SQLite has one writer at a
-- time (BEGIN IMMEDIATE), so the advisory locks PostgreSQL needs have no SQLite twin.

-- Migrations (see store/plans/migrate.py).

-- name: migration_no_timeout

-- name: migration_lock

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied TEXT);

-- name: migrations_applied
SELECT version FROM schema_migrations;

-- name: migration_record
INSERT INTO schema_migrations (version, name, applied) VALUES (?1, ?2, ?3);

-- Flows.

-- name: flow_save_lock

-- name: flow_insert
INSERT INTO flows (namespace, id, revision, source, hash, file, disabled, deleted, updated)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?7);

-- name: flow_latest
SELECT namespace, id, revision, source, hash, file, disabled, deleted
FROM flows WHERE namespace = ?1 AND id = ?2 ORDER BY revision DESC LIMIT 1;

-- name: flow_revision
SELECT namespace, id, revision, source, hash, file, disabled, deleted
FROM flows WHERE namespace = ?1 AND id = ?2 AND revision = ?3;

-- name: flow_list_latest
SELECT f.namespace, f.id, f.revision, f.source, f.hash, f.file, f.disabled, f.deleted
FROM flows f
JOIN (SELECT namespace, id, max(revision) AS revision FROM flows GROUP BY namespace, id) m
  ON f.namespace = m.namespace AND f.id = m.id AND f.revision = m.revision
ORDER BY f.namespace, f.id;

-- What changed since a time (ISO text), without the sources: the flow follower's poll
-- (runtime/flow_follow.py), a range scan of flows_updated (080).
-- name: flow_changes_since
SELECT namespace, id, revision, hash, file, disabled, deleted, updated
FROM flows WHERE updated >= ?1 ORDER BY updated;

-- name: flow_set_flags
UPDATE flows SET disabled = ?1, deleted = ?2, updated = ?3
WHERE namespace = ?4 AND id = ?5 AND revision = ?6;

-- name: flow_restore
UPDATE flows SET disabled = 0, deleted = 0, file = ?1, updated = ?2
WHERE namespace = ?3 AND id = ?4 AND revision = ?5;

-- Load problems of flows-folder files (090_flow_file_problems.sql): the sync of a folder
-- replaces its whole set in one transaction.
-- name: file_problems_lock

-- name: file_problems_clear
DELETE FROM flow_file_problems WHERE root = ?1;

-- name: file_problems_insert
INSERT INTO flow_file_problems (root, path, problems, updated) VALUES (?1, ?2, ?3, ?4);

-- name: file_problems_list
SELECT root, path, problems FROM flow_file_problems ORDER BY path, root;

-- Executions.

-- name: execution_upsert
INSERT INTO executions (id, namespace, flow_id, flow_revision, state, start_date, end_date, trigger_execution_id, value, labels)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (id) DO UPDATE SET state = excluded.state, end_date = excluded.end_date, value = excluded.value, labels = excluded.labels;

-- name: execution_get
SELECT value FROM executions WHERE id = ?1;

-- name: execution_get_many
SELECT e.value FROM json_each(?1) AS k JOIN executions e ON e.id = k.value;

-- The executor's BatchView answers, read before the handler runs for the flows of the
-- batch with a concurrency limit (one row of parameters per flow).

-- name: execution_running_counts
SELECT ?1, ?2, count(*) FROM executions
WHERE namespace = ?1 AND flow_id = ?2 AND state IN ('RUNNING', 'PAUSED', 'RETRYING', 'KILLING', 'RESTARTED');

-- name: execution_queued_ids
SELECT namespace, flow_id, id FROM executions
WHERE namespace = ?1 AND flow_id = ?2 AND state = 'QUEUED'
ORDER BY start_date, id LIMIT ?3;

-- Named index: once ANALYZE has seen a column that is mostly NULL it rates the index
-- useless and the planner scans the whole table instead.
-- name: execution_by_trigger
SELECT value FROM executions INDEXED BY executions_trigger WHERE trigger_execution_id = ?1;

-- name: execution_states_of
SELECT id, state, start_date FROM executions WHERE id IN (SELECT value FROM json_each(?1));

-- Queue topics.

-- name: queue_execution_insert
INSERT INTO queue_execution (key, payload, available_at) VALUES (?1, ?2, ?3);

-- name: queue_execution_poll
SELECT seq, key, payload FROM queue_execution
WHERE available_at <= ?1 AND claimed_by IS NULL
ORDER BY seq LIMIT ?2;

-- name: queue_key_lock

-- name: queue_execution_delete
DELETE FROM queue_execution WHERE seq = ?1;

-- name: queue_execution_next_due
SELECT min(available_at) FROM queue_execution WHERE claimed_by IS NULL;

-- name: queue_worker_insert
INSERT INTO queue_worker (key, payload, available_at) VALUES (?1, ?2, ?3);

-- name: queue_worker_insert_claimed
INSERT INTO queue_worker (key, payload, available_at, claimed_by, claimed_at, deliveries)
VALUES (?1, ?2, ?3, ?4, ?3, 1);

-- The caller sorts the rows by seq (RETURNING gives no order).
-- name: queue_worker_claim
UPDATE queue_worker SET claimed_by = ?1, claimed_at = ?2, deliveries = deliveries + 1
WHERE seq IN (
  SELECT seq FROM queue_worker
  WHERE claimed_by IS NULL AND available_at <= ?2
  ORDER BY seq LIMIT ?3
)
RETURNING seq, key, payload, deliveries, handed_back;

-- name: queue_worker_delete
DELETE FROM queue_worker WHERE seq = ?1;

-- name: queue_worker_release_dead
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL
WHERE claimed_by IS NOT NULL AND claimed_by NOT IN (SELECT id FROM service_instance WHERE state = 'RUNNING');

-- The jobs still claimed by instances that are not RUNNING, to hand out again.
-- name: queue_worker_held_by_gone
SELECT claimed_by, seq, key, payload, deliveries, handed_back FROM queue_worker
WHERE claimed_by IN (SELECT id FROM service_instance WHERE state <> 'RUNNING')
ORDER BY seq;

-- name: queue_worker_release_seqs
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL
WHERE seq IN (SELECT value FROM json_each(?1));

-- Jobs of a claim attempt whose answer was lost (see Store.release_worker_claims).
-- name: queue_worker_release_stamps
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL, deliveries = max(deliveries - 1, 0)
WHERE claimed_by = ?1 AND claimed_at = ?2;

-- A graceful stop gives its unfinished jobs back: not a death (see 030_worker_deliveries).
-- name: queue_worker_hand_back
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL, handed_back = handed_back + 1
WHERE claimed_by = ?1;

-- The jobs a dead instance had in flight, logged when they are handed out again.
-- name: queue_worker_in_flight_dead
SELECT claimed_by, seq, key, payload, deliveries, handed_back FROM queue_worker
WHERE claimed_by IS NOT NULL AND claimed_by NOT IN (SELECT id FROM service_instance WHERE state = 'RUNNING')
ORDER BY seq;

-- Housekeeping: every queue message of ended (or purged) executions, by key (index on
-- key). Run in the transaction that ends them: delayed timers (retries, SLAs, pauses) and
-- worker jobs not yet run would otherwise wait for their due time, or run a task of an
-- execution that was killed.
-- name: queue_execution_delete_keys
DELETE FROM queue_execution WHERE key = ?1;

-- name: queue_worker_delete_keys
DELETE FROM queue_worker WHERE key = ?1;

-- name: queue_execution_stats
SELECT count(*), min(CASE WHEN claimed_by IS NULL AND available_at <= ?1 THEN available_at END)
FROM queue_execution;

-- name: queue_worker_stats
SELECT count(*), min(CASE WHEN claimed_by IS NULL AND available_at <= ?1 THEN available_at END)
FROM queue_worker;

-- name: queue_worker_claimed_count
SELECT count(*) FROM queue_worker WHERE claimed_by = ?1;

-- The executor batch's cross-daemon locks (see plans/batch.py): SQLite has one writer.
-- name: batch_lock

-- Logs. `seq` is the rowid: one more than the largest, in insert order. Inserts that
-- make keys (`ManyKeys` in store/statements.py) return nothing here: the connector reads
-- the last rowid; PostgreSQL's return the keys, in input order.

-- name: log_insert
INSERT INTO logs (execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9);

-- One writer commits log lines in seq order: every seq is below the horizon.
-- name: log_horizon
SELECT 9223372036854775807;

-- name: log_list
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs WHERE execution_id = ?1 AND seq > ?2 AND seq < ?4 ORDER BY seq LIMIT ?3;

-- name: log_search_after
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE seq > ?1 AND seq < ?7 AND (?2 IS NULL OR execution_id = ?2) AND (?3 IS NULL OR namespace = ?3)
  AND (?4 IS NULL OR flow_id = ?4) AND (?5 IS NULL OR level IN (SELECT value FROM json_each(?5)))
ORDER BY seq LIMIT ?6;

-- name: log_search_latest
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE seq < ?6 AND (?1 IS NULL OR execution_id = ?1) AND (?2 IS NULL OR namespace = ?2)
  AND (?3 IS NULL OR flow_id = ?3) AND (?4 IS NULL OR level IN (SELECT value FROM json_each(?4)))
ORDER BY seq DESC LIMIT ?5;

-- Service instances.

-- name: instance_register
INSERT INTO service_instance (id, host, pid, roles, started, heartbeat, state)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'RUNNING');

-- Only a RUNNING row: a DISCONNECTED instance is never revived (store/lease.py).
-- name: instance_heartbeat
UPDATE service_instance SET heartbeat = ?1 WHERE id = ?2 AND state = 'RUNNING';

-- name: instance_disconnect_silent
UPDATE service_instance SET state = 'DISCONNECTED'
WHERE state = 'RUNNING' AND heartbeat < ?1 AND id <> ?2
RETURNING id;

-- One process per SQLite file: no other daemon's sessions to end.
-- name: instance_fence

-- name: instance_purge
DELETE FROM service_instance WHERE state <> 'RUNNING' AND heartbeat < ?1;

-- name: instance_list
SELECT id, roles, host, pid, started, heartbeat, state FROM service_instance
ORDER BY state = 'RUNNING' DESC, started DESC;

-- name: instance_set_state
UPDATE service_instance SET state = ?1 WHERE id = ?2;

-- name: instance_running
SELECT id, host, pid, heartbeat FROM service_instance WHERE state = 'RUNNING';

-- Executions list (API search, `kestrad executions list`): keyset pagination on
-- (start_date, id), newest first. The first page passes the sentinel ('~', '') which sorts
-- after every ISO date; `OFFSET` is only for Kestra's page numbers (0 otherwise). One
-- query per filter combination, each an exact match on the leading columns of its own
-- index (010_execution_list_indexes.sql), so a page is one index range scan stopping at
-- LIMIT. Each takes its filters (in `rows.SEARCH_FILTERS` order), then
-- (after_date, after_id, limit, offset).

-- name: execution_search_all
SELECT value FROM executions
WHERE (start_date, id) < (?1, ?2)
ORDER BY start_date DESC, id DESC LIMIT ?3 OFFSET ?4;

-- name: execution_search_namespace
SELECT value FROM executions
WHERE namespace = ?1 AND (start_date, id) < (?2, ?3)
ORDER BY start_date DESC, id DESC LIMIT ?4 OFFSET ?5;

-- name: execution_search_flow
SELECT value FROM executions
WHERE namespace = ?1 AND flow_id = ?2 AND (start_date, id) < (?3, ?4)
ORDER BY start_date DESC, id DESC LIMIT ?5 OFFSET ?6;

-- A flow id without its namespace (Kestra allows it); a state filter is checked on that
-- flow's rows only.
-- name: execution_search_flow_id
SELECT value FROM executions
WHERE flow_id = ?1 AND (?2 IS NULL OR state = ?2) AND (start_date, id) < (?3, ?4)
ORDER BY start_date DESC, id DESC LIMIT ?5 OFFSET ?6;

-- name: execution_search_state
SELECT value FROM executions
WHERE state = ?1 AND (start_date, id) < (?2, ?3)
ORDER BY start_date DESC, id DESC LIMIT ?4 OFFSET ?5;

-- name: execution_search_namespace_state
SELECT value FROM executions
WHERE namespace = ?1 AND state = ?2 AND (start_date, id) < (?3, ?4)
ORDER BY start_date DESC, id DESC LIMIT ?5 OFFSET ?6;

-- name: execution_search_flow_state
SELECT value FROM executions
WHERE namespace = ?1 AND flow_id = ?2 AND state = ?3 AND (start_date, id) < (?4, ?5)
ORDER BY start_date DESC, id DESC LIMIT ?6 OFFSET ?7;

-- Counts, only when a caller asks: the same filters, the same indexes.

-- name: execution_count_all
SELECT count(*) FROM executions;

-- name: execution_count_namespace
SELECT count(*) FROM executions WHERE namespace = ?1;

-- name: execution_count_flow
SELECT count(*) FROM executions WHERE namespace = ?1 AND flow_id = ?2;

-- name: execution_count_flow_id
SELECT count(*) FROM executions WHERE flow_id = ?1 AND (?2 IS NULL OR state = ?2);

-- name: execution_count_state
SELECT count(*) FROM executions WHERE state = ?1;

-- name: execution_count_namespace_state
SELECT count(*) FROM executions WHERE namespace = ?1 AND state = ?2;

-- name: execution_count_flow_state
SELECT count(*) FROM executions WHERE namespace = ?1 AND flow_id = ?2 AND state = ?3;

-- name: execution_active
SELECT id, state FROM executions
WHERE state IN ('CREATED', 'SUBMITTED', 'RUNNING', 'PAUSED', 'RESTARTED', 'KILLING', 'QUEUED', 'RETRYING');

-- name: ping
SELECT 1;

-- Scheduler trigger states (see 005_triggers.sql).

-- name: trigger_load_all
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated, last_fire_at
FROM triggers;

-- name: trigger_get
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3;

-- name: trigger_list
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers
WHERE (?1 IS NULL OR namespace = ?1) AND (?2 IS NULL OR flow_id = ?2)
ORDER BY namespace, flow_id, trigger_id LIMIT ?3;

-- name: trigger_updated_since
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers WHERE updated > ?1 ORDER BY updated;

-- name: trigger_upsert
INSERT INTO triggers (namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated, last_fire_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE SET
  next_fire_at = excluded.next_fire_at, execution_id = excluded.execution_id,
  disabled = excluded.disabled, backfill = excluded.backfill,
  fingerprint = excluded.fingerprint, updated = excluded.updated,
  last_fire_at = excluded.last_fire_at;

-- name: trigger_delete
DELETE FROM triggers WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3;

-- `updated` moves so the scheduler sees the release at its next sync (epoch seconds).
-- name: trigger_release_lock
UPDATE triggers SET execution_id = NULL, updated = (julianday('now') - 2440587.5) * 86400.0
WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3 AND execution_id = ?4;

-- Flow-trigger windows (see 008_trigger_windows.sql).

-- name: trigger_window_get_many
SELECT namespace, flow_id, trigger_id, condition_id, start_at, end_at, results, outputs
FROM trigger_windows
WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3 AND condition_id = ?4;

-- name: trigger_window_upsert
INSERT INTO trigger_windows (namespace, flow_id, trigger_id, condition_id, start_at, end_at, results, outputs)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (namespace, flow_id, trigger_id, condition_id) DO UPDATE SET
  start_at = excluded.start_at, end_at = excluded.end_at,
  results = excluded.results, outputs = excluded.outputs;

-- name: trigger_window_delete
DELETE FROM trigger_windows
WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3 AND condition_id = ?4;

-- name: trigger_window_delete_expired
DELETE FROM trigger_windows WHERE end_at < ?1;

-- Scheduler lease (see 011_scheduler_lease.sql): taken or renewed when free, expired or
-- already ours; a row comes back only then. Times are the database's clock (epoch
-- seconds; SQLite's `unixepoch('subsec')` needs 3.42), as in PostgreSQL.
-- name: scheduler_lease_claim
INSERT INTO scheduler_lease (name, holder, expires_at)
VALUES ('scheduler', ?1, (julianday('now') - 2440587.5) * 86400.0 + ?2)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE scheduler_lease.holder = excluded.holder
   OR scheduler_lease.expires_at < (julianday('now') - 2440587.5) * 86400.0
RETURNING holder;

-- name: scheduler_lease_release
DELETE FROM scheduler_lease WHERE name = 'scheduler' AND holder = ?1;

-- name: scheduler_lease_get
SELECT holder, expires_at - (julianday('now') - 2440587.5) * 86400.0 AS remaining
FROM scheduler_lease WHERE name = 'scheduler';

-- KV store (see 006_kv.sql).

-- name: kv_get
SELECT namespace, key, value, type, description, expires_at, updated
FROM kv WHERE namespace = ?1 AND key = ?2;

-- Write unless a live row exists: an expired row is overwritten. ?8 is now (epoch seconds).
-- name: kv_insert_unless_live
INSERT INTO kv (namespace, key, value, type, description, expires_at, updated)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (namespace, key) DO UPDATE SET
  value = excluded.value, type = excluded.type, description = excluded.description,
  expires_at = excluded.expires_at, updated = excluded.updated
WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?8
RETURNING 1;

-- name: kv_upsert
INSERT INTO kv (namespace, key, value, type, description, expires_at, updated)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (namespace, key) DO UPDATE SET
  value = excluded.value, type = excluded.type, description = excluded.description,
  expires_at = excluded.expires_at, updated = excluded.updated;

-- name: kv_delete
DELETE FROM kv WHERE namespace = ?1 AND key = ?2;

-- name: kv_list
SELECT namespace, key, value, type, description, expires_at, updated
FROM kv WHERE (?1 IS NULL OR namespace = ?1) ORDER BY namespace, key;

-- name: kv_stamp
SELECT count(*), coalesce(max(updated), 0) FROM kv;

-- Maintenance tasks (execution.Count, execution.PurgeExecutions, log.PurgeLogs). Dates are
-- ISO-8601 UTC strings written like `now_iso`, so they compare as text.

-- execution.Count, one query per filter combination, as in the PostgreSQL file.
-- Parameters: ?1 start, ?2 end, then the lists (JSON arrays).

-- ?3 namespaces, ?4 flow ids: the flows, as pairs (matched by their position).
-- name: execution_flow_counts_flows
SELECT e.namespace, e.flow_id, count(*)
FROM json_each(?3) AS n JOIN json_each(?4) AS f ON f.key = n.key
JOIN executions e ON e.namespace = n.value AND e.flow_id = f.value
WHERE e.start_date >= coalesce(?1, '') AND e.start_date <= coalesce(?2, '~')
GROUP BY e.namespace, e.flow_id ORDER BY e.namespace, e.flow_id;

-- ?3 namespaces, ?4 flow ids (pairs), ?5 states.
-- name: execution_flow_counts_flows_states
SELECT e.namespace, e.flow_id, count(*)
FROM json_each(?3) AS n JOIN json_each(?4) AS f ON f.key = n.key
JOIN executions e ON e.namespace = n.value AND e.flow_id = f.value
WHERE e.state IN (SELECT value FROM json_each(?5))
  AND e.start_date >= coalesce(?1, '') AND e.start_date <= coalesce(?2, '~')
GROUP BY e.namespace, e.flow_id ORDER BY e.namespace, e.flow_id;

-- ?3 namespaces.
-- name: execution_flow_counts_namespaces
SELECT namespace, flow_id, count(*) FROM executions
WHERE namespace IN (SELECT value FROM json_each(?3))
  AND start_date >= coalesce(?1, '') AND start_date <= coalesce(?2, '~')
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- ?3 namespaces, ?4 states.
-- name: execution_flow_counts_namespaces_states
SELECT namespace, flow_id, count(*) FROM executions
WHERE namespace IN (SELECT value FROM json_each(?3)) AND state IN (SELECT value FROM json_each(?4))
  AND start_date >= coalesce(?1, '') AND start_date <= coalesce(?2, '~')
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- name: execution_flow_counts_all
SELECT namespace, flow_id, count(*) FROM executions
WHERE start_date >= coalesce(?1, '') AND start_date <= coalesce(?2, '~')
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- ?3 states.
-- name: execution_flow_counts_states
SELECT namespace, flow_id, count(*) FROM executions
WHERE state IN (SELECT value FROM json_each(?3))
  AND start_date >= coalesce(?1, '') AND start_date <= coalesce(?2, '~')
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- Parameters: ?1 states, ?2 end, ?3 start, ?4 namespace, ?5 flow_id, ?6 after, ?7 limit.
-- name: execution_ended_page
SELECT id, namespace, flow_id FROM executions
WHERE id > ?6 AND state IN (SELECT value FROM json_each(?1))
  AND (?4 IS NULL
       OR (?5 IS NOT NULL AND namespace = ?4)
       OR (?5 IS NULL AND (namespace = ?4 OR substr(namespace, 1, length(?4) + 1) = ?4 || '.')))
  AND (?5 IS NULL OR flow_id = ?5)
  AND (?3 IS NULL OR start_date >= ?3) AND start_date <= ?2
ORDER BY id LIMIT ?7;

-- name: execution_delete
DELETE FROM executions WHERE id IN (SELECT value FROM json_each(?1));

-- name: log_delete_executions
DELETE FROM logs WHERE execution_id IN (SELECT value FROM json_each(?1));

-- One batch of at most ?7 lines (the store repeats it, one transaction each, until a
-- batch comes back short): a purge of millions of lines never holds the writer for long.
-- Parameters: ?1 end, ?2 start, ?3 namespace, ?4 flow_id, ?5 execution_id, ?6 levels, ?7 limit.
-- name: log_purge
DELETE FROM logs WHERE seq IN (
  SELECT seq FROM logs
  WHERE (?3 IS NULL
         OR (?4 IS NOT NULL AND namespace = ?3)
         OR (?4 IS NULL AND (namespace = ?3 OR substr(namespace, 1, length(?3) + 1) = ?3 || '.')))
    AND (?4 IS NULL OR flow_id = ?4)
    AND (?5 IS NULL OR execution_id = ?5)
    AND (?6 IS NULL OR level IN (SELECT value FROM json_each(?6)))
    AND (?2 IS NULL OR timestamp >= ?2) AND timestamp <= ?1
  LIMIT ?7);

-- Executions per state in a start-date range, for the web UI's chart (plans/charts.py):
-- each a count over a covering index. The tree variant counts a namespace and every
-- namespace below it: the index range [ns, ns + '/') holds them ('.' sorts before '/'),
-- and the exact test drops neighbours such as `ns-x`.
-- name: chart_count_state
SELECT count(*) FROM executions WHERE state = ?1 AND start_date >= ?2 AND start_date <= ?3;

-- name: chart_count_namespace_state
SELECT count(*) FROM executions
WHERE namespace = ?1 AND state = ?2 AND start_date >= ?3 AND start_date <= ?4;

-- name: chart_count_tree_state
SELECT count(*) FROM executions
WHERE namespace >= ?1 AND namespace < ?1 || '/'
  AND (namespace = ?1 OR substr(namespace, 1, length(?1) + 1) = ?1 || '.')
  AND state = ?2 AND start_date >= ?3 AND start_date <= ?4;

-- name: chart_count_flow_state
SELECT count(*) FROM executions
WHERE namespace = ?1 AND flow_id = ?2 AND state = ?3 AND start_date >= ?4 AND start_date <= ?5;

-- Kestra's query filters (store/filters.py): the executions a search, a count or a bulk
-- action by query selects; the conditions go where `/*where*/` is.
-- name: execution_find
SELECT e.value FROM executions AS e
WHERE /*where*/ AND (e.start_date, e.id) < (?1, ?2)
ORDER BY e.start_date DESC, e.id DESC LIMIT ?3 OFFSET ?4;

-- name: execution_find_count
SELECT count(*) FROM executions AS e WHERE /*where*/;

-- name: execution_find_ids
SELECT e.id FROM executions AS e WHERE /*where*/ ORDER BY e.start_date DESC, e.id DESC LIMIT ?1;

-- Search conditions (store/filters.py): `{col}` is a column of the searched table, the
-- parameters are numbered from 1 and renumbered after the query's own.
-- name: where_eq
{col} = ?1

-- name: where_ne
({col} IS NULL OR {col} <> ?1)

-- name: where_in
{col} IN (SELECT value FROM json_each(?1))

-- name: where_not_in
({col} IS NULL OR {col} NOT IN (SELECT value FROM json_each(?1)))

-- name: where_like
{col} LIKE ?1 ESCAPE '\'

-- name: where_regex
{col} REGEXP ?1

-- name: where_prefix
({col} = ?1 OR {col} LIKE ?2 ESCAPE '\')

-- name: where_not_prefix
NOT ({col} = ?1 OR {col} LIKE ?2 ESCAPE '\')

-- name: where_gt
{col} > ?1

-- name: where_ge
{col} >= ?1

-- name: where_lt
{col} < ?1

-- name: where_le
{col} <= ?1

-- name: where_label_eq
EXISTS (SELECT 1 FROM json_each({col}) AS lb WHERE lb.key = ?1 AND lb.value = ?2)

-- name: where_label_ne
NOT EXISTS (SELECT 1 FROM json_each({col}) AS lb WHERE lb.key = ?1 AND lb.value = ?2)

-- name: where_label_like
EXISTS (SELECT 1 FROM json_each({col}) AS lb WHERE lb.key = ?1 AND lb.value LIKE ?2 ESCAPE '\')

-- name: where_is_null
{col} IS NULL

-- name: where_not_null
{col} IS NOT NULL

-- name: where_never
1 = 0

-- Log lines matching Kestra's query filters (store/filters.py), newest first.
-- name: log_find
SELECT l.seq, l.execution_id, l.namespace, l.flow_id, l.task_id, l.task_run_id, l.attempt, l.level, l.timestamp, l.message
FROM logs AS l WHERE /*where*/ ORDER BY l.seq DESC LIMIT ?1 OFFSET ?2;

-- name: log_find_count
SELECT count(*) FROM logs AS l WHERE /*where*/;

-- The newest execution of each flow of a list (?1 namespaces, ?2 flow ids, pairwise).
-- name: execution_latest_of_flows
SELECT e.namespace, e.flow_id, e.id, e.state, e.start_date
FROM json_each(?1) AS n JOIN json_each(?2) AS f ON f.key = n.key
JOIN executions AS e ON e.id = (
  SELECT x.id FROM executions AS x
  WHERE x.namespace = n.value AND x.flow_id = f.value
  ORDER BY x.start_date DESC, x.id DESC LIMIT 1);
