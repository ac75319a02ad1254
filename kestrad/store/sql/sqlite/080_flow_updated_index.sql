-- Flow changes by time: every process of a store polls `flow_changes_since` (about twice a
-- second, runtime/flow_follow.py) for the revisions written, enabled, disabled or deleted
-- since its last look. The index makes each poll a range scan over the few recent rows,
-- whatever the number of flows and revisions. `updated` is ISO-8601 UTC text of a fixed
-- width, so text order is time order.
CREATE INDEX flows_updated ON flows (updated);
