-- What masking found in the request: JSON array of {kind, action, path,
-- count}; never the values. NULL when nothing was found.
ALTER TABLE request_records ADD COLUMN findings_json TEXT;
