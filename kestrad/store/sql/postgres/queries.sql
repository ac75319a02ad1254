-- Named queries of the PostgreSQL store. `-- name: X` starts a query; see store/queries.py.
-- Every name exists in the SQLite file too, with the same positional parameters (see
-- store/statements.py). Optional filters are `($n::type IS NULL OR col = $n)`: the cast
-- tells asyncpg the type. Batches pass arrays (`unnest`, `= ANY`) so one statement is one
-- round trip: a `Many` statement gets one array per column of its rows.

-- Migrations (see store/plans/migrate.py). The lock makes daemons starting together
-- apply each migration once.

-- name: migration_no_timeout
SET LOCAL statement_timeout = 0;

-- name: migration_lock
SELECT pg_advisory_xact_lock(1801810804);

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations
  (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL);

-- name: migrations_applied
SELECT version FROM schema_migrations;

-- name: migration_record
INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3);

-- Serializes saves of one flow across daemons: two new revisions never get one number.
-- name: flow_save_lock
SELECT pg_advisory_xact_lock(hashtext($1));

-- name: flow_insert
INSERT INTO flows (namespace, id, revision, source, hash, file, disabled, deleted, updated)
VALUES ($1, $2, $3, $4, $5, $6, FALSE, FALSE, $7);

-- name: flow_latest
SELECT namespace, id, revision, source, hash, file, disabled, deleted
FROM flows WHERE namespace = $1 AND id = $2 ORDER BY revision DESC LIMIT 1;

-- name: flow_revision
SELECT namespace, id, revision, source, hash, file, disabled, deleted
FROM flows WHERE namespace = $1 AND id = $2 AND revision = $3;

-- name: flow_list_latest
SELECT DISTINCT ON (namespace, id) namespace, id, revision, source, hash, file, disabled, deleted
FROM flows ORDER BY namespace, id, revision DESC;

-- What changed since a time (ISO text), without the sources: the flow follower's poll
-- (runtime/flow_follow.py), a range scan of flows_updated (080).
-- name: flow_changes_since
SELECT namespace, id, revision, hash, file, disabled, deleted, updated
FROM flows WHERE updated >= $1 ORDER BY updated;

-- name: flow_set_flags
UPDATE flows SET disabled = $1, deleted = $2, updated = $3
WHERE namespace = $4 AND id = $5 AND revision = $6;

-- name: flow_restore
UPDATE flows SET disabled = FALSE, deleted = FALSE, file = $1, updated = $2
WHERE namespace = $3 AND id = $4 AND revision = $5;

-- Load problems of flows-folder files (090_flow_file_problems.sql): the sync of a folder
-- replaces its whole set in one transaction. The lock (its key names the folder)
-- serializes two daemons syncing one folder: without it, each would delete the rows it
-- sees, then both insert the same keys.
-- name: file_problems_lock
SELECT pg_advisory_xact_lock(hashtext($1));

-- name: file_problems_clear
DELETE FROM flow_file_problems WHERE root = $1;

-- name: file_problems_insert
INSERT INTO flow_file_problems (root, path, problems, updated)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]);

-- name: file_problems_list
SELECT root, path, problems FROM flow_file_problems ORDER BY path, root;

-- name: execution_upsert
INSERT INTO executions (id, namespace, flow_id, flow_revision, state, start_date, end_date, trigger_execution_id, value, labels)
SELECT u.id, u.ns, u.flow, u.rev, u.state, u.start, u.end_date, u.trig, u.value, u.labels::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[], $10::text[])
    AS u(id, ns, flow, rev, state, start, end_date, trig, value, labels)
ON CONFLICT (id) DO UPDATE SET state = excluded.state, end_date = excluded.end_date, value = excluded.value, labels = excluded.labels;

-- name: execution_get
SELECT value FROM executions WHERE id = $1;

-- name: execution_get_many
SELECT value FROM executions WHERE id = ANY($1::text[]);

-- Reads the executor's BatchView answers from memory, fetched before the handler runs for
-- the flows of the batch with a concurrency limit, under their locks (see plans/batch.py):
-- running counts and the oldest queued ids.

-- name: execution_running_counts
SELECT e.namespace, e.flow_id, count(*) FROM executions e
JOIN unnest($1::text[], $2::text[]) AS f(namespace, flow_id)
  ON e.namespace = f.namespace AND e.flow_id = f.flow_id
WHERE e.state IN ('RUNNING', 'PAUSED', 'RETRYING', 'KILLING', 'RESTARTED')
GROUP BY e.namespace, e.flow_id;

-- name: execution_queued_ids
SELECT f.namespace, f.flow_id, q.id
FROM unnest($1::text[], $2::text[], $3::int[]) AS f(namespace, flow_id, wanted)
CROSS JOIN LATERAL (
  SELECT e.id, e.start_date FROM executions e
  WHERE e.namespace = f.namespace AND e.flow_id = f.flow_id AND e.state = 'QUEUED'
  ORDER BY e.start_date, e.id LIMIT f.wanted
) q
ORDER BY f.namespace, f.flow_id, q.start_date, q.id;

-- name: execution_by_trigger
SELECT value FROM executions WHERE trigger_execution_id = $1;

-- Inserting also notifies `kestrad_execution` (delivered at commit, once per transaction):
-- a wake-up hint for the executors of other daemons, in the same round trip.
-- name: queue_execution_insert
WITH inserted AS (
  INSERT INTO queue_execution (key, payload, available_at)
  SELECT * FROM unnest($1::text[], $2::bytea[], $3::float8[])
  RETURNING 1
)
SELECT pg_notify('kestrad_execution', '') WHERE EXISTS (SELECT 1 FROM inserted);

-- The executor's claim: due rows in order, skipping rows another executor holds, and
-- only rows whose key's advisory lock this transaction gets. The scan walks
-- queue_execution_due in seq order, so the first row of a key met is its oldest due
-- message, and the key's other messages stay for whoever holds its lock: one execution's
-- messages are processed in order by one executor at a time.
-- name: queue_execution_poll
SELECT seq, key, payload FROM queue_execution
WHERE claimed_by IS NULL AND available_at <= $1 AND pg_try_advisory_xact_lock(hashtext(key))
ORDER BY seq LIMIT $2
FOR UPDATE SKIP LOCKED;

-- Keys of messages that did not come from the table (local results, new executions): the
-- executor must process them now, so it waits for their locks, taken in sorted order.
-- The caller sorts the keys; unnest yields them in array order (no sort node, which could
-- run after the volatile lock calls).
-- name: queue_key_lock
SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) AS k;

-- name: queue_execution_delete
DELETE FROM queue_execution WHERE seq = ANY($1::bigint[]);

-- name: queue_execution_next_due
SELECT min(available_at) FROM queue_execution WHERE claimed_by IS NULL;

-- Inserting also notifies `kestrad_worker` (delivered at commit): a hint for idle workers.
-- name: queue_worker_insert
WITH inserted AS (
  INSERT INTO queue_worker (key, payload, available_at)
  SELECT * FROM unnest($1::text[], $2::bytea[], $3::float8[])
  RETURNING 1
)
SELECT pg_notify('kestrad_worker', '') WHERE EXISTS (SELECT 1 FROM inserted);

-- name: queue_worker_insert_claimed
INSERT INTO queue_worker (key, payload, available_at, claimed_by, claimed_at, deliveries)
SELECT k, p, a, c, a, 1
FROM unnest($1::text[], $2::bytea[], $3::float8[], $4::text[]) WITH ORDINALITY AS j(k, p, a, c, n)
ORDER BY n
RETURNING seq;

-- name: queue_worker_claim
UPDATE queue_worker SET claimed_by = $1, claimed_at = $2, deliveries = deliveries + 1
WHERE seq IN (
  SELECT seq FROM queue_worker
  WHERE claimed_by IS NULL AND available_at <= $2
  ORDER BY seq LIMIT $3
  FOR UPDATE SKIP LOCKED
)
RETURNING seq, key, payload, deliveries, handed_back;

-- name: queue_worker_delete
DELETE FROM queue_worker WHERE seq = ANY($1::bigint[]);

-- name: queue_worker_release_dead
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL
WHERE claimed_by IS NOT NULL
  AND claimed_by NOT IN (SELECT id FROM service_instance WHERE state = 'RUNNING');

-- A log insert first takes a SHARED transaction-level advisory lock keyed by the seq
-- sequence's last value (+ 2^40), held until its commit: the readers' horizon
-- (070_log_horizon.sql) stays below every seq it draws. Shared: writers never wait on each
-- other, nor on a frozen daemon. Every row joins the one row of the locked CTE before the
-- insert's projection draws its seq (nextval), so no seq is drawn before the lock is held.
-- name: log_insert
WITH inflight AS MATERIALIZED (
  SELECT pg_advisory_xact_lock_shared(1099511627776 + (SELECT last_value FROM logs_seq_seq))
)
INSERT INTO logs (execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message)
SELECT e, ns, f, t, tr, a, l, ts, m
FROM inflight, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::text[])
  WITH ORDINALITY AS x(e, ns, f, t, tr, a, l, ts, m, n)
ORDER BY n
RETURNING seq;

-- Followers page with `seq > cursor AND seq < horizon`: no line below the horizon can
-- still commit, so none commits behind a cursor that already passed its seq.
-- name: log_horizon
SELECT kestrad_log_horizon();

-- name: log_list
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs WHERE execution_id = $1 AND seq > $2 AND seq < $4 ORDER BY seq LIMIT $3;

-- name: instance_register
INSERT INTO service_instance (id, host, pid, roles, started, heartbeat, state)
VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING');

-- Only a RUNNING row: a DISCONNECTED instance was fenced and its jobs handed out; it
-- learns so here (no row updated) and stops, never revived (store/lease.py).
-- name: instance_heartbeat
UPDATE service_instance SET heartbeat = $1 WHERE id = $2 AND state = 'RUNNING';

-- A row locked by its instance's own open transaction (which confirms its lease, see
-- store/lease.py) is skipped: that instance is alive enough to commit, or its session
-- ends by `idle_in_transaction_session_timeout` and the next pass takes it.
-- name: instance_disconnect_silent
UPDATE service_instance SET state = 'DISCONNECTED'
WHERE id IN (
  SELECT id FROM service_instance
  WHERE state = 'RUNNING' AND heartbeat < $1 AND id <> $2
  FOR UPDATE SKIP LOCKED
)
RETURNING id;

-- The fence: end the sessions of instances just disconnected (their application_name is
-- `kestrad/<instance id>`), rolling back what a frozen daemon had in flight and freeing
-- its row locks. Only sessions of this role: a role may always end its own sessions.
-- name: instance_fence
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = ANY($1::text[]) AND usename = current_user AND pid <> pg_backend_pid();

-- The jobs still claimed by instances that are not RUNNING (disconnected, stopped, dead),
-- to hand out again. A row a frozen instance's open transaction still locks is skipped,
-- not waited for: the next liveness pass takes it, once the fence (instance_fence) or
-- `idle_in_transaction_session_timeout` ended that transaction.
-- name: queue_worker_held_by_gone
SELECT claimed_by, seq, key, payload, deliveries, handed_back FROM queue_worker
WHERE claimed_by IN (SELECT id FROM service_instance WHERE state <> 'RUNNING')
ORDER BY seq
FOR UPDATE SKIP LOCKED;

-- name: queue_worker_release_seqs
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL WHERE seq = ANY($1::bigint[]);

-- name: instance_purge
DELETE FROM service_instance WHERE state <> 'RUNNING' AND heartbeat < $1;

-- name: instance_list
SELECT id, roles, host, pid, started, heartbeat, state FROM service_instance
ORDER BY state = 'RUNNING' DESC, started DESC;

-- name: instance_set_state
UPDATE service_instance SET state = $1 WHERE id = $2;

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
WHERE (start_date, id) < ($1::text, $2::text)
ORDER BY start_date DESC, id DESC LIMIT $3 OFFSET $4;

-- name: execution_search_namespace
SELECT value FROM executions
WHERE namespace = $1 AND (start_date, id) < ($2::text, $3::text)
ORDER BY start_date DESC, id DESC LIMIT $4 OFFSET $5;

-- name: execution_search_flow
SELECT value FROM executions
WHERE namespace = $1 AND flow_id = $2 AND (start_date, id) < ($3::text, $4::text)
ORDER BY start_date DESC, id DESC LIMIT $5 OFFSET $6;

-- A flow id without its namespace (Kestra allows it); a state filter is checked on that
-- flow's rows only.
-- name: execution_search_flow_id
SELECT value FROM executions
WHERE flow_id = $1 AND ($2::text IS NULL OR state = $2) AND (start_date, id) < ($3::text, $4::text)
ORDER BY start_date DESC, id DESC LIMIT $5 OFFSET $6;

-- name: execution_search_state
SELECT value FROM executions
WHERE state = $1 AND (start_date, id) < ($2::text, $3::text)
ORDER BY start_date DESC, id DESC LIMIT $4 OFFSET $5;

-- name: execution_search_namespace_state
SELECT value FROM executions
WHERE namespace = $1 AND state = $2 AND (start_date, id) < ($3::text, $4::text)
ORDER BY start_date DESC, id DESC LIMIT $5 OFFSET $6;

-- name: execution_search_flow_state
SELECT value FROM executions
WHERE namespace = $1 AND flow_id = $2 AND state = $3 AND (start_date, id) < ($4::text, $5::text)
ORDER BY start_date DESC, id DESC LIMIT $6 OFFSET $7;

-- Counts, only when a caller asks: the same filters, the same indexes.

-- name: execution_count_all
SELECT count(*) FROM executions;

-- name: execution_count_namespace
SELECT count(*) FROM executions WHERE namespace = $1;

-- name: execution_count_flow
SELECT count(*) FROM executions WHERE namespace = $1 AND flow_id = $2;

-- name: execution_count_flow_id
SELECT count(*) FROM executions WHERE flow_id = $1 AND ($2::text IS NULL OR state = $2);

-- name: execution_count_state
SELECT count(*) FROM executions WHERE state = $1;

-- name: execution_count_namespace_state
SELECT count(*) FROM executions WHERE namespace = $1 AND state = $2;

-- name: execution_count_flow_state
SELECT count(*) FROM executions WHERE namespace = $1 AND flow_id = $2 AND state = $3;

-- name: execution_active
SELECT id, state FROM executions
WHERE state IN ('CREATED', 'SUBMITTED', 'RUNNING', 'PAUSED', 'RESTARTED', 'KILLING', 'QUEUED', 'RETRYING');

-- name: queue_execution_stats
SELECT count(*), min(CASE WHEN claimed_by IS NULL AND available_at <= $1 THEN available_at END)
FROM queue_execution;

-- name: queue_worker_stats
SELECT count(*), min(CASE WHEN claimed_by IS NULL AND available_at <= $1 THEN available_at END)
FROM queue_worker;

-- name: ping
SELECT 1;

-- name: queue_worker_claimed_count
SELECT count(*) FROM queue_worker WHERE claimed_by = $1;

-- `kestrad logs -f` follows with this, below the horizon (see log_horizon).
-- name: log_search_after
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE seq > $1 AND seq < $7 AND ($2::text IS NULL OR execution_id = $2) AND ($3::text IS NULL OR namespace = $3)
  AND ($4::text IS NULL OR flow_id = $4) AND ($5::text[] IS NULL OR level = ANY($5))
ORDER BY seq LIMIT $6;

-- name: log_search_latest
SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE seq < $6 AND ($1::text IS NULL OR execution_id = $1) AND ($2::text IS NULL OR namespace = $2)
  AND ($3::text IS NULL OR flow_id = $3) AND ($4::text[] IS NULL OR level = ANY($4))
ORDER BY seq DESC LIMIT $5;

-- Scheduler trigger states (see 005_triggers.sql).

-- name: trigger_load_all
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated, last_fire_at
FROM triggers;

-- name: trigger_get
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers WHERE namespace = $1 AND flow_id = $2 AND trigger_id = $3;

-- name: trigger_list
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers
WHERE ($1::text IS NULL OR namespace = $1) AND ($2::text IS NULL OR flow_id = $2)
ORDER BY namespace, flow_id, trigger_id LIMIT $3;

-- name: trigger_updated_since
SELECT namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated
FROM triggers WHERE updated > $1 ORDER BY updated;

-- The rows' keys are distinct (one upsert may not touch a row twice).
-- name: trigger_upsert
INSERT INTO triggers (namespace, flow_id, trigger_id, next_fire_at, execution_id, disabled, backfill, fingerprint, updated, last_fire_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::bool[],
                     $7::text[], $8::text[], $9::float8[], $10::float8[])
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE SET
  next_fire_at = excluded.next_fire_at, execution_id = excluded.execution_id,
  disabled = excluded.disabled, backfill = excluded.backfill,
  fingerprint = excluded.fingerprint, updated = excluded.updated,
  last_fire_at = excluded.last_fire_at;

-- name: trigger_delete
DELETE FROM triggers t
USING unnest($1::text[], $2::text[], $3::text[]) AS k(namespace, flow_id, trigger_id)
WHERE t.namespace = k.namespace AND t.flow_id = k.flow_id AND t.trigger_id = k.trigger_id;

-- name: execution_states_of
SELECT id, state, start_date FROM executions WHERE id = ANY($1::text[]);

-- The rows' keys are distinct (one upsert may not touch a row twice).
-- name: trigger_window_upsert
INSERT INTO trigger_windows (namespace, flow_id, trigger_id, condition_id, start_at, end_at, results, outputs)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                     $7::text[], $8::text[])
ON CONFLICT (namespace, flow_id, trigger_id, condition_id) DO UPDATE SET
  start_at = excluded.start_at, end_at = excluded.end_at,
  results = excluded.results, outputs = excluded.outputs;

-- name: trigger_window_delete
DELETE FROM trigger_windows w
USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(namespace, flow_id, trigger_id, condition_id)
WHERE w.namespace = k.namespace AND w.flow_id = k.flow_id
  AND w.trigger_id = k.trigger_id AND w.condition_id = k.condition_id;

-- `updated` moves so the scheduler leader, maybe on another daemon, sees the release at
-- its next sync instead of its next full lock check.
-- name: trigger_release_lock
UPDATE triggers t SET execution_id = NULL, updated = extract(epoch FROM clock_timestamp())
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(namespace, flow_id, trigger_id, execution_id)
WHERE t.namespace = k.namespace AND t.flow_id = k.flow_id AND t.trigger_id = k.trigger_id
  AND t.execution_id = k.execution_id;

-- KV store (see 006_kv.sql).

-- name: kv_get
SELECT namespace, key, value, type, description, expires_at, updated
FROM kv WHERE namespace = $1 AND key = $2;

-- Write unless a live row exists: an expired row is overwritten, in one statement so two
-- daemons creating the same key cannot both succeed. $8 is now (epoch seconds).
-- name: kv_insert_unless_live
INSERT INTO kv (namespace, key, value, type, description, expires_at, updated)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (namespace, key) DO UPDATE SET
  value = excluded.value, type = excluded.type, description = excluded.description,
  expires_at = excluded.expires_at, updated = excluded.updated
WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= $8
RETURNING 1;

-- name: kv_upsert
INSERT INTO kv (namespace, key, value, type, description, expires_at, updated)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (namespace, key) DO UPDATE SET
  value = excluded.value, type = excluded.type, description = excluded.description,
  expires_at = excluded.expires_at, updated = excluded.updated;

-- name: kv_delete
DELETE FROM kv WHERE namespace = $1 AND key = $2;

-- name: kv_list
SELECT namespace, key, value, type, description, expires_at, updated
FROM kv WHERE ($1::text IS NULL OR namespace = $1) ORDER BY namespace, key;

-- name: kv_stamp
SELECT count(*), coalesce(max(updated), 0) FROM kv;

-- Maintenance tasks (execution.Count, execution.PurgeExecutions, log.PurgeLogs). Dates are
-- ISO-8601 UTC strings written like `now_iso`, so they compare as text (collation "C").

-- execution.Count, one query per filter combination (store/plans/maintenance.py picks it):
-- an optional filter written `($n IS NULL OR …)` or matched on `namespace || '/' || flow_id`
-- hides every index from the planner. Dates default to the whole range ('' and '~' sort
-- before and after every ISO date), which keeps them index conditions. Each reads only an
-- index (tests/store/test_explain.py). Parameters: $1 start, $2 end, then the lists.

-- $3 namespaces, $4 flow ids: the flows, as pairs.
-- name: execution_flow_counts_flows
SELECT e.namespace, e.flow_id, count(*)
FROM unnest($3::text[], $4::text[]) AS f(namespace, flow_id)
JOIN executions e ON e.namespace = f.namespace AND e.flow_id = f.flow_id
WHERE e.start_date >= coalesce($1::text, '') AND e.start_date <= coalesce($2::text, '~')
GROUP BY e.namespace, e.flow_id ORDER BY e.namespace, e.flow_id;

-- $3 namespaces, $4 flow ids (pairs), $5 states.
-- name: execution_flow_counts_flows_states
SELECT e.namespace, e.flow_id, count(*)
FROM unnest($3::text[], $4::text[]) AS f(namespace, flow_id) CROSS JOIN unnest($5::text[]) AS s(state)
JOIN executions e ON e.namespace = f.namespace AND e.flow_id = f.flow_id AND e.state = s.state
WHERE e.start_date >= coalesce($1::text, '') AND e.start_date <= coalesce($2::text, '~')
GROUP BY e.namespace, e.flow_id ORDER BY e.namespace, e.flow_id;

-- $3 namespaces.
-- name: execution_flow_counts_namespaces
SELECT namespace, flow_id, count(*) FROM executions
WHERE namespace = ANY($3::text[])
  AND start_date >= coalesce($1::text, '') AND start_date <= coalesce($2::text, '~')
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- $3 namespaces, $4 states.
-- name: execution_flow_counts_namespaces_states
SELECT e.namespace, e.flow_id, count(*)
FROM unnest($4::text[]) AS s(state)
JOIN executions e ON e.namespace = ANY($3::text[]) AND e.state = s.state
WHERE e.start_date >= coalesce($1::text, '') AND e.start_date <= coalesce($2::text, '~')
GROUP BY e.namespace, e.flow_id ORDER BY e.namespace, e.flow_id;

-- name: execution_flow_counts_all
SELECT namespace, flow_id, count(*) FROM executions
WHERE start_date >= coalesce($1::text, '') AND start_date <= coalesce($2::text, '~')
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- $3 states.
-- name: execution_flow_counts_states
SELECT namespace, flow_id, count(*) FROM executions
WHERE state = ANY($3::text[])
  AND start_date >= coalesce($1::text, '') AND start_date <= coalesce($2::text, '~')
GROUP BY namespace, flow_id ORDER BY namespace, flow_id;

-- Parameters: $1 states, $2 end, $3 start, $4 namespace, $5 flow_id, $6 after, $7 limit.
-- name: execution_ended_page
SELECT id, namespace, flow_id FROM executions
WHERE id > $6 AND state = ANY($1::text[])
  AND ($4::text IS NULL
       OR ($5::text IS NOT NULL AND namespace = $4)
       OR ($5::text IS NULL AND (namespace = $4 OR starts_with(namespace, $4 || '.'))))
  AND ($5::text IS NULL OR flow_id = $5)
  AND ($3::text IS NULL OR start_date >= $3) AND start_date <= $2
ORDER BY id LIMIT $7;

-- name: execution_delete
DELETE FROM executions WHERE id = ANY($1::text[]);

-- name: log_delete_executions
DELETE FROM logs WHERE execution_id = ANY($1::text[]);

-- One batch of at most $7 lines (the store repeats it, one transaction each, until a
-- batch comes back short): a purge of millions of lines never holds one long transaction.
-- `seq = ANY(ARRAY(…))` keeps the delete itself a primary-key lookup.
-- Parameters: $1 end, $2 start, $3 namespace, $4 flow_id, $5 execution_id, $6 levels, $7 limit.
-- name: log_purge
DELETE FROM logs WHERE seq = ANY(ARRAY(
  SELECT seq FROM logs
  WHERE ($3::text IS NULL
         OR ($4::text IS NOT NULL AND namespace = $3)
         OR ($4::text IS NULL AND (namespace = $3 OR starts_with(namespace, $3 || '.'))))
    AND ($4::text IS NULL OR flow_id = $4)
    AND ($5::text IS NULL OR execution_id = $5)
    AND ($6::text[] IS NULL OR level = ANY($6))
    AND ($2::text IS NULL OR timestamp >= $2) AND timestamp <= $1
  LIMIT $7));

-- Scheduler lease (see 011_scheduler_lease.sql). Taken or renewed when free, expired or
-- already ours; a row comes back only then. The upsert locks the row, so a claim and a
-- renewal by two daemons are serialized.
-- name: scheduler_lease_claim
INSERT INTO scheduler_lease (name, holder, expires_at)
VALUES ('scheduler', $1, extract(epoch FROM clock_timestamp()) + $2)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE scheduler_lease.holder = EXCLUDED.holder
   OR scheduler_lease.expires_at < extract(epoch FROM clock_timestamp())
RETURNING holder;

-- name: scheduler_lease_release
DELETE FROM scheduler_lease WHERE name = 'scheduler' AND holder = $1;

-- name: scheduler_lease_get
SELECT holder, expires_at - extract(epoch FROM clock_timestamp()) AS remaining
FROM scheduler_lease WHERE name = 'scheduler';

-- Housekeeping: every queue message of ended (or purged) executions, by key (index on
-- key). Run in the transaction that ends them: delayed timers (retries, SLAs, pauses) and
-- worker jobs not yet run would otherwise wait for their due time, or run a task of an
-- execution that was killed.
-- name: queue_execution_delete_keys
DELETE FROM queue_execution WHERE key = ANY($1::text[]);

-- name: queue_worker_delete_keys
DELETE FROM queue_worker WHERE key = ANY($1::text[]);

-- The executor batch's locks across daemons (see plans/batch.py): transaction-level advisory
-- locks (class, key), one per flow with a concurrency limit and per Flow-trigger window
-- the batch may touch. The caller sorts them; unnest yields them in array order.
-- name: batch_lock
SELECT pg_advisory_xact_lock(c, k) FROM unnest($1::int4[], $2::int4[]) AS l(c, k);

-- The windows one batch declared, by primary key (never the whole table).
-- name: trigger_window_get_many
SELECT w.namespace, w.flow_id, w.trigger_id, w.condition_id, w.start_at, w.end_at, w.results, w.outputs
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(namespace, flow_id, trigger_id, condition_id)
JOIN trigger_windows w ON w.namespace = k.namespace AND w.flow_id = k.flow_id
  AND w.trigger_id = k.trigger_id AND w.condition_id = k.condition_id;

-- Windows past their end, but none another batch is writing: it never waits on one.
-- name: trigger_window_delete_expired
DELETE FROM trigger_windows WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM trigger_windows WHERE end_at < $1 FOR UPDATE SKIP LOCKED
));

-- Jobs of claim attempts whose answer was lost (see Store.release_worker_claims).
-- name: queue_worker_release_stamps
UPDATE queue_worker q SET claimed_by = NULL, claimed_at = NULL,
  deliveries = greatest(q.deliveries - 1, 0)
FROM unnest($1::text[], $2::float8[]) AS a(claimed_by, claimed_at)
WHERE q.claimed_by = a.claimed_by AND q.claimed_at = a.claimed_at;

-- Executions per state in a start-date range, for the web UI's chart (plans/charts.py):
-- each a count over a covering index. The tree variant counts a namespace and every
-- namespace below it: the index range [ns, ns + '/') holds them ('.' sorts before '/' in
-- the C collation the columns use), and the exact test drops neighbours such as `ns-x`.
-- name: chart_count_state
SELECT count(*) FROM executions WHERE state = $1 AND start_date >= $2 AND start_date <= $3;

-- name: chart_count_namespace_state
SELECT count(*) FROM executions
WHERE namespace = $1 AND state = $2 AND start_date >= $3 AND start_date <= $4;

-- name: chart_count_tree_state
SELECT count(*) FROM executions
WHERE namespace >= $1::text AND namespace < $1::text || '/'
  AND (namespace = $1::text OR left(namespace, length($1::text) + 1) = $1::text || '.')
  AND state = $2 AND start_date >= $3 AND start_date <= $4;

-- name: chart_count_flow_state
SELECT count(*) FROM executions
WHERE namespace = $1 AND flow_id = $2 AND state = $3 AND start_date >= $4 AND start_date <= $5;

-- A graceful stop gives its unfinished jobs back: not a death (see 030_worker_deliveries).
-- name: queue_worker_hand_back
UPDATE queue_worker SET claimed_by = NULL, claimed_at = NULL, handed_back = handed_back + 1
WHERE claimed_by = $1;

-- The jobs a dead instance had in flight, logged when they are handed out again.
-- name: queue_worker_in_flight_dead
SELECT claimed_by, seq, key, payload, deliveries, handed_back FROM queue_worker
WHERE claimed_by IS NOT NULL
  AND claimed_by NOT IN (SELECT id FROM service_instance WHERE state = 'RUNNING')
ORDER BY seq;

-- Kestra's query filters (store/filters.py): the executions a search, a count or a bulk
-- action by query selects; the conditions go where `/*where*/` is.
-- name: execution_find
SELECT e.value FROM executions AS e
WHERE /*where*/ AND (e.start_date, e.id) < ($1::text, $2::text)
ORDER BY e.start_date DESC, e.id DESC LIMIT $3 OFFSET $4;

-- name: execution_find_count
SELECT count(*) FROM executions AS e WHERE /*where*/;

-- name: execution_find_ids
SELECT e.id FROM executions AS e WHERE /*where*/ ORDER BY e.start_date DESC, e.id DESC LIMIT $1;

-- Search conditions (store/filters.py): `{col}` is a column of the searched table, the
-- parameters are numbered from 1 and renumbered after the query's own.
-- name: where_eq
{col} = $1

-- name: where_ne
({col} IS NULL OR {col} <> $1)

-- name: where_in
{col} = ANY($1::text[])

-- name: where_not_in
({col} IS NULL OR NOT ({col} = ANY($1::text[])))

-- name: where_like
{col} ILIKE $1 ESCAPE '\'

-- name: where_regex
{col} ~ $1

-- name: where_prefix
({col} = $1 OR {col} LIKE $2 ESCAPE '\')

-- name: where_not_prefix
NOT ({col} = $1 OR {col} LIKE $2 ESCAPE '\')

-- name: where_gt
{col} > $1

-- name: where_ge
{col} >= $1

-- name: where_lt
{col} < $1

-- name: where_le
{col} <= $1

-- name: where_label_eq
{col} @> jsonb_build_object($1::text, $2::text)

-- name: where_label_ne
NOT (COALESCE({col}, '{}'::jsonb) @> jsonb_build_object($1::text, $2::text))

-- name: where_label_like
EXISTS (SELECT 1 FROM jsonb_each_text({col}) AS lb WHERE lb.key = $1 AND lb.value ILIKE $2 ESCAPE '\')

-- name: where_is_null
{col} IS NULL

-- name: where_not_null
{col} IS NOT NULL

-- name: where_never
1 = 0

-- Log lines matching Kestra's query filters (store/filters.py), newest first.
-- name: log_find
SELECT l.seq, l.execution_id, l.namespace, l.flow_id, l.task_id, l.task_run_id, l.attempt, l.level, l.timestamp, l.message
FROM logs AS l WHERE /*where*/ ORDER BY l.seq DESC LIMIT $1 OFFSET $2;

-- name: log_find_count
SELECT count(*) FROM logs AS l WHERE /*where*/;

-- The newest execution of each flow of a list ($1 namespaces, $2 flow ids, pairwise).
-- name: execution_latest_of_flows
SELECT f.ns, f.flow, e.id, e.state, e.start_date
FROM unnest($1::text[], $2::text[]) AS f(ns, flow)
CROSS JOIN LATERAL (
  SELECT x.id, x.state, x.start_date FROM executions AS x
  WHERE x.namespace = f.ns AND x.flow_id = f.flow
  ORDER BY x.start_date DESC, x.id DESC LIMIT 1) AS e;
