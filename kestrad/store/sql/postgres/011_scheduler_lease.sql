-- Scheduler leadership: one row per lease name, held by one daemon until `expires_at`
-- (epoch seconds on the DATABASE's clock, so daemons with drifting clocks agree). The
-- leader renews it inside every transaction that writes fires, so a daemon that lost the
-- lease can never commit a fire: that is what makes double fires across daemons impossible.
CREATE TABLE scheduler_lease (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
