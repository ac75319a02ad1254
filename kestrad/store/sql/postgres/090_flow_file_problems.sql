-- Flows-folder files that do not load now, with their problems. Only the process that
-- syncs a folder reads its files, yet any process of the store may answer the UI or the
-- API: the sync writes the whole set of its folder `root` (absolute path) when it changes,
-- one row per file, and readers read it here. `problems` is a JSON list of
-- {file, line, column, path, message}; `updated` is when the sync last wrote the row
-- (ISO-8601 UTC text). A broken file keeps its flow's last good revision in `flows`, so
-- that table alone cannot tell.
CREATE TABLE flow_file_problems (
    root     TEXT COLLATE "C" NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    problems TEXT NOT NULL,
    updated  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (root, path)
);
