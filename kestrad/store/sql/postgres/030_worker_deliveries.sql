-- How many times each worker job was handed to a worker (`deliveries`: a claim adds one,
-- a claim whose answer an outage lost takes it back), and how many of those claims the
-- daemon gave back itself at a graceful stop (`handed_back`). Every other delivery before
-- the current one ended with its worker dead: past `worker.max_deliveries` of those, the
-- job fails its task run instead of killing the next daemon too. Each delivery is a new
-- attempt of the task run.
ALTER TABLE queue_worker ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_worker ADD COLUMN handed_back INTEGER NOT NULL DEFAULT 0;
