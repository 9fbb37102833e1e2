-- Stream timings of a relayed answer (see RequestRecord::ttft_us, chunks).
ALTER TABLE request_records ADD COLUMN ttft_us BIGINT;
ALTER TABLE request_records ADD COLUMN chunks BIGINT;
