-- The trail says what happened: `decision` is the call's final verdict,
-- `policy_decision` what Cedar said, `stage` the stage that refused it, and
-- `client_request_id` the caller's own X-Request-Id.
ALTER TABLE request_records ADD COLUMN policy_decision TEXT;
ALTER TABLE request_records ADD COLUMN stage TEXT;
ALTER TABLE request_records ADD COLUMN client_request_id TEXT;
