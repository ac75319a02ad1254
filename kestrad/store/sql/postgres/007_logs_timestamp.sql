-- Log purges filter on the line's date.
CREATE INDEX logs_timestamp ON logs (timestamp);
