-- Flow concurrency counts running executions of one flow and finds its oldest queued one
-- on every admission: an index on (namespace, flow_id, state, start_date) keeps both to
-- the executions of that flow in that state.
CREATE INDEX executions_flow_state ON executions (namespace, flow_id, state, start_date);
