-- Tamper evidence: each record carries the SHA-256 of its canonical encoding
-- chained to the previous record's hash (see warden-store's `chain` module).
-- Rows written before this migration have NULL here and are reported as
-- outside the chain by `warden audit verify`.
ALTER TABLE request_records ADD COLUMN prev_hash BLOB;
ALTER TABLE request_records ADD COLUMN hash BLOB;
