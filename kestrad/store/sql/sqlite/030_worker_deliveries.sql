-- How many times each worker job was handed to a worker, and how many of those claims the
-- daemon gave back itself (see the PostgreSQL migration of the same number).
ALTER TABLE queue_worker ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_worker ADD COLUMN handed_back INTEGER NOT NULL DEFAULT 0;
