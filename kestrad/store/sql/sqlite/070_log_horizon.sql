-- PostgreSQL's log horizon (a function) has no SQLite counterpart: one writer commits
-- log lines in seq order, so every seq is below the horizon (see the log_horizon query).
SELECT 1;
