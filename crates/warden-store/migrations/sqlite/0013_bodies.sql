-- Session recording: a call's masked request and answer bodies and its
-- answer's chunk times (`[audit] record_bodies`). Not trail entries (they
-- have their own retention); the record's `body_sha256` holds their digest.
ALTER TABLE request_records ADD COLUMN body_sha256 TEXT;
CREATE TABLE request_bodies (
    request_id          TEXT    PRIMARY KEY,
    time_ms             INTEGER NOT NULL,
    request             BLOB,
    request_truncated   INTEGER NOT NULL,
    response            BLOB,
    response_truncated  INTEGER NOT NULL,
    chunk_us            TEXT    NOT NULL
);
CREATE INDEX request_bodies_time ON request_bodies (time_ms);
