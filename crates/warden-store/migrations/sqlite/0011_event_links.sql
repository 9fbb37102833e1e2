-- What joins an audit event to a session and to a model call: an agent
-- trace's spans carry the session they were filed under, and a `response`
-- span names the Responses API object (the call) it timed.
ALTER TABLE audit_events ADD COLUMN session_id TEXT;
ALTER TABLE audit_events ADD COLUMN response_id TEXT;
CREATE INDEX audit_events_session ON audit_events (session_id, seq) WHERE session_id IS NOT NULL;
CREATE INDEX audit_events_response ON audit_events (response_id) WHERE response_id IS NOT NULL;
CREATE INDEX audit_events_target ON audit_events (target, seq) WHERE target IS NOT NULL;
