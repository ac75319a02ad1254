-- The date of a trigger's last fire, kept while `next_fire_at` is the fire time after it:
-- the next fire's `trigger.previous` is then read, not searched backwards in the cron.
ALTER TABLE triggers ADD COLUMN last_fire_at DOUBLE PRECISION;
