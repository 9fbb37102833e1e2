-- The Responses API object a call created, so only its creator may read,
-- delete, cancel or continue it.
ALTER TABLE request_records ADD COLUMN response_id TEXT;
CREATE INDEX request_records_response ON request_records (response_id) WHERE response_id IS NOT NULL;
