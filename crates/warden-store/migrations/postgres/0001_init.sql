-- Warden's store on PostgreSQL, in one step: the same tables the SQLite
-- migrations arrive at (see migrations/sqlite), in PostgreSQL's types.
--
-- Text is COLLATE "C" (byte order, as SQLite's BINARY), so orderings, MIN()
-- and grouping keys come out as they do on SQLite. Lists are TEXT[] (their
-- order is kept; usage by group unnests them); findings and event details
-- are JSONB. No CHECK constraints on enum-like columns: the store decodes
-- strictly, and a row edited behind its back is reported by the chain.

-- One row per request that reached Warden, allowed or refused. `seq` is the
-- entry's position in the trail, assigned by the store under the chain_head
-- row's lock (no sequence object: a rolled-back append must leave no gap).
CREATE TABLE request_records (
    seq                 BIGINT  PRIMARY KEY,
    request_id          TEXT    COLLATE "C" NOT NULL UNIQUE,
    started_at_ms       BIGINT  NOT NULL,
    principal_kind      TEXT    COLLATE "C",
    subject             TEXT    COLLATE "C",
    issuer              TEXT    COLLATE "C",
    groups              TEXT[]  COLLATE "C" NOT NULL,
    key_id              TEXT    COLLATE "C",
    client_addr         TEXT    COLLATE "C",
    method              TEXT    COLLATE "C" NOT NULL,
    path                TEXT    COLLATE "C" NOT NULL,
    endpoint            TEXT    COLLATE "C" NOT NULL,
    model               TEXT    COLLATE "C",
    connection          TEXT    COLLATE "C",
    stream              BOOLEAN NOT NULL,
    decision            TEXT    COLLATE "C" NOT NULL,
    reason              TEXT    COLLATE "C",
    policy_ids          TEXT[]  COLLATE "C" NOT NULL,
    status              INTEGER NOT NULL,
    outcome             TEXT    COLLATE "C" NOT NULL,
    upstream_latency_us BIGINT,
    total_latency_us    BIGINT  NOT NULL,
    input_tokens        BIGINT,
    output_tokens       BIGINT,
    total_tokens        BIGINT,
    cached_tokens       BIGINT,
    -- Micro-USD, from the reported usage and the price table (NULL when
    -- either is unknown).
    cost_micros         BIGINT,
    -- What masking found: [{kind, action, path, count}], never the values.
    -- NULL when nothing was found.
    findings            JSONB,
    -- The Responses API object the call created, and its session.
    response_id         TEXT    COLLATE "C",
    session_id          TEXT    COLLATE "C",
    -- SHA-256 chain links (see warden-store's `chain` module).
    prev_hash           BYTEA,
    hash                BYTEA
);
CREATE INDEX request_records_time ON request_records (started_at_ms);
CREATE INDEX request_records_subject ON request_records (subject, started_at_ms);
CREATE INDEX request_records_response ON request_records (response_id) WHERE response_id IS NOT NULL;
CREATE INDEX request_records_session ON request_records (session_id, seq) WHERE session_id IS NOT NULL;

-- Audit events that are not model calls (keys, start and stop, approvals).
-- They share the request records' sequence and hash chain: a seq is used by
-- exactly one row of the two tables, and the chain runs over both in order.
CREATE TABLE audit_events (
    seq          BIGINT  PRIMARY KEY,
    event_id     TEXT    COLLATE "C" NOT NULL UNIQUE,
    time_ms      BIGINT  NOT NULL,
    action       TEXT    COLLATE "C" NOT NULL,
    subject      TEXT    COLLATE "C",
    issuer       TEXT    COLLATE "C",
    groups       TEXT[]  COLLATE "C" NOT NULL,
    key_id       TEXT    COLLATE "C",
    client_addr  TEXT    COLLATE "C",
    target       TEXT    COLLATE "C",
    status       TEXT    COLLATE "C" NOT NULL,
    detail       JSONB   NOT NULL,
    prev_hash    BYTEA   NOT NULL,
    hash         BYTEA   NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time_ms);

-- The chain's head: the last seq, its hash and the Merkle tree's right edge
-- (merkle::Frontier's stored form). Every append locks this one row
-- (SELECT ... FOR UPDATE) for its whole transaction, so any number of
-- replicas append to one unforked chain with consecutive seqs.
CREATE TABLE chain_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT  NOT NULL,
    hash      BYTEA   NOT NULL,
    frontier  BYTEA   NOT NULL
);
-- The empty trail: seq 0, the genesis hash (32 zero bytes), an empty tree
-- (its size, 0, as 8 big-endian bytes).
INSERT INTO chain_head (id, seq, hash, frontier)
VALUES (1, 0, decode(repeat('00', 32), 'hex'), decode(repeat('00', 8), 'hex'));

-- Signed checkpoints the server made of its own trail (see warden-store's
-- `checkpoint` module). The copy kept here is for convenience; the point of
-- a checkpoint is the copy published where the database's writers cannot
-- reach.
CREATE TABLE audit_checkpoints (
    seq             BIGINT NOT NULL,
    tree_size       BIGINT NOT NULL,
    root            TEXT   COLLATE "C" NOT NULL,
    time_ms         BIGINT NOT NULL,
    checkpoint_json TEXT   COLLATE "C" NOT NULL
);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);

-- After retention pruning: the signed checkpoint the first kept entry links
-- to. `warden audit verify` starts from it instead of the genesis hash.
CREATE TABLE chain_anchor (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    seq              BIGINT  NOT NULL,
    checkpoint_json  TEXT    COLLATE "C" NOT NULL
);

-- Warden-issued keys. Only a SHA-256 of the key is kept: keys carry 256 bits
-- of randomness, so a fast hash is enough (no password-style stretching).
CREATE TABLE api_keys (
    id             TEXT    COLLATE "C" PRIMARY KEY,
    key_hash       BYTEA   NOT NULL,
    owner          TEXT    COLLATE "C" NOT NULL,
    groups         TEXT[]  COLLATE "C" NOT NULL,
    models         TEXT[]  COLLATE "C",
    description    TEXT    COLLATE "C",
    created_at_ms  BIGINT  NOT NULL,
    expires_at_ms  BIGINT,
    revoked_at_ms  BIGINT
);
