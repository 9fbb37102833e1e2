-- Audit events that are not model calls (keys, start and stop, approvals).
-- They share the request records' sequence and hash chain: a seq is used by
-- exactly one row of the two tables, and the chain runs over both in order.
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT    NOT NULL UNIQUE,
    time_ms      INTEGER NOT NULL,
    action       TEXT    NOT NULL,
    subject      TEXT,
    issuer       TEXT,
    groups_json  TEXT    NOT NULL,
    key_id       TEXT,
    client_addr  TEXT,
    target       TEXT,
    status       TEXT    NOT NULL,
    detail_json  TEXT    NOT NULL,
    prev_hash    BLOB    NOT NULL,
    hash         BLOB    NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time_ms);

-- The chain's head: the last seq, its hash and the Merkle tree's right edge.
-- Every append reads and moves it inside its write transaction, so several
-- processes (the server and the CLI) append to one chain without forking it.
-- `frontier` is NULL until built from the trail (once, at the first open).
CREATE TABLE chain_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      BLOB    NOT NULL,
    frontier  BLOB
);
INSERT INTO chain_head (id, seq, hash, frontier)
SELECT 1,
       COALESCE((SELECT MAX(seq) FROM request_records), 0),
       COALESCE((SELECT hash FROM request_records ORDER BY seq DESC LIMIT 1), zeroblob(32)),
       NULL;
