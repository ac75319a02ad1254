-- Indexes behind every filter combination of the executions list (API search, `kestrad
-- executions list`), each ending with (start_date, id): the keyset order, so a page is
-- one index range scan that stops at LIMIT, whatever the table's size. Filters without
-- their own index made the scan walk (and fetch from the heap) every row newer than the
-- page to test the missing column: seconds at a million rows for a rare combination.
--   no filter                    executions_start_id            (002)
--   namespace                    executions_namespace_start     (002)
--   namespace + flowId           executions_flow_start          (002)
--   state                        executions_state_start         (002)
--   flowId (no namespace)        executions_flow_id_start       (new)
--   namespace + state            executions_namespace_state     (new)
--   namespace + flowId + state   executions_flow_state_start    (new; also flow
--                                concurrency's running counts and oldest queued ids)
CREATE INDEX executions_flow_id_start ON executions (flow_id, start_date, id);
CREATE INDEX executions_namespace_state ON executions (namespace, state, start_date, id);
CREATE INDEX executions_flow_state_start ON executions (namespace, flow_id, state, start_date, id);
-- Every index below is a prefix of one above: each costs a write on every state change of
-- every execution and serves nothing its longer twin does not.
DROP INDEX executions_flow_state;
DROP INDEX executions_flow;
DROP INDEX executions_start;
DROP INDEX executions_state;
