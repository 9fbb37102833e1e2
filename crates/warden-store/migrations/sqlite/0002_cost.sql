-- What the call cost, in micro-USD, from the upstream's reported usage and
-- the configured price table (NULL when either is unknown).
ALTER TABLE request_records ADD COLUMN cost_micros INTEGER;
