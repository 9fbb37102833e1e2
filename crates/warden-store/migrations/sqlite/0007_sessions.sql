-- The session a call belongs to (X-Warden-Session, or its Responses chain).
ALTER TABLE request_records ADD COLUMN session_id TEXT;
CREATE INDEX request_records_session ON request_records (session_id, seq) WHERE session_id IS NOT NULL;
