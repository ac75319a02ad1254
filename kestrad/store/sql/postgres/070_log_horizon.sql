-- The log horizon: every log line with a smaller seq that will ever commit has committed.
-- Followers read `seq > cursor AND seq < horizon` (store/plans/logs.py), so none skips a
-- line that commits after it passed by, and no writer waits on a cluster-wide lock: each
-- log insert holds a SHARED advisory lock keyed by the sequence's last value (at most its
-- own first seq) until it commits, so shared holders never wait on each other.
--
-- Read in this order, each by its own statement: the sequence's last value L, then the
-- smallest key still locked W. A seq <= L was drawn before L was read, by an insert that
-- held its lock from before it drew: still uncommitted, its key (<= its seq) is in W. A
-- seq > L is excluded by L itself. Hence horizon = least(L + 1, W).
-- Keys are seq + 2^40: the bigint advisory-lock space, above every int4 key of kestrad's
-- other locks (hashtext), and shown in pg_locks as classid = key >> 32, objid = low bits.
CREATE FUNCTION kestrad_log_horizon() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_seq bigint;
    low_key bigint;
BEGIN
    SELECT last_value INTO last_seq FROM logs_seq_seq;
    SELECT min((l.classid::bigint << 32) | l.objid::bigint) INTO low_key
    FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid::bigint >= 256
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
    RETURN least(last_seq + 1, low_key - 1099511627776);
END
$$;
