-- Execution labels as a column the search filters read (`filters[labels][EQUALS][k]=v`):
-- a JSONB object {key: value}, written with every upsert of the execution, behind a GIN
-- index for containment (`labels @> {"k": "v"}`). Executions stored before get theirs
-- from their document.
ALTER TABLE executions ADD COLUMN labels JSONB;
UPDATE executions SET labels = COALESCE(
    (SELECT jsonb_object_agg(l->>'key', l->>'value')
     FROM jsonb_array_elements(convert_from(value, 'UTF8')::jsonb -> 'labels') AS l),
    '{}'::jsonb
);
CREATE INDEX executions_labels ON executions USING gin (labels jsonb_path_ops);
