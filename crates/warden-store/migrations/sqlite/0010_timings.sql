-- Stream timings of a relayed answer (see RequestRecord::ttft_us, chunks).
ALTER TABLE request_records ADD COLUMN ttft_us INTEGER;
ALTER TABLE request_records ADD COLUMN chunks INTEGER;
