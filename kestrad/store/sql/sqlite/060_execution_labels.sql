-- Execution labels as a column the search filters read (`filters[labels][EQUALS][k]=v`):
-- a JSON object {key: value}, written with every upsert of the execution. Executions
-- stored before get theirs from their document.
ALTER TABLE executions ADD COLUMN labels TEXT;
UPDATE executions SET labels = (
    SELECT json_group_object(json_extract(l.value, '$.key'), json_extract(l.value, '$.value'))
    FROM json_each(CAST(executions.value AS TEXT), '$.labels') AS l
);
