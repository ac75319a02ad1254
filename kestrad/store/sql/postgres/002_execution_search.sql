-- Indexes behind the API's execution search: newest first overall, by namespace, by flow
-- or by state, with the id as tie-breaker so keyset pages never skip or repeat a row.
CREATE INDEX executions_start_id ON executions (start_date, id);
CREATE INDEX executions_namespace_start ON executions (namespace, start_date, id);
CREATE INDEX executions_flow_start ON executions (namespace, flow_id, start_date, id);
CREATE INDEX executions_state_start ON executions (state, start_date, id);
