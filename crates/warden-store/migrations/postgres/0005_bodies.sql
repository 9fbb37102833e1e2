-- Session recording: a call's masked request and answer bodies and its
-- answer's chunk times (`[audit] record_bodies`). Not trail entries (they
-- have their own retention); the record's `body_sha256` holds their digest.
ALTER TABLE request_records ADD COLUMN body_sha256 TEXT COLLATE "C";
CREATE TABLE request_bodies (
    request_id          TEXT    COLLATE "C" PRIMARY KEY,
    time_ms             BIGINT  NOT NULL,
    request             BYTEA,
    request_truncated   BOOLEAN NOT NULL,
    response            BYTEA,
    response_truncated  BOOLEAN NOT NULL,
    chunk_us            BIGINT[] NOT NULL
);
CREATE INDEX request_bodies_time ON request_bodies (time_ms);
