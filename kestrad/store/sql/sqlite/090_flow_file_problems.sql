-- Flows-folder files that do not load now, with their problems (see the PostgreSQL
-- migration of the same number): one row per file, written by the process that syncs the
-- folder `root`, read by every process of the store.
CREATE TABLE flow_file_problems (
    root     TEXT NOT NULL,
    path     TEXT NOT NULL,
    problems TEXT NOT NULL,
    updated  TEXT NOT NULL,
    PRIMARY KEY (root, path)
);
