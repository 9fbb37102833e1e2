-- One row per request that reached Warden, allowed or refused.
-- `seq` is the record's position in the trail: the audit issue chains hashes
-- over rows in `seq` order, so rows are only ever appended.
CREATE TABLE request_records (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id          TEXT    NOT NULL UNIQUE,
    started_at_ms       INTEGER NOT NULL,
    principal_kind      TEXT,
    subject             TEXT,
    issuer              TEXT,
    groups_json         TEXT    NOT NULL,
    key_id              TEXT,
    client_addr         TEXT,
    method              TEXT    NOT NULL,
    path                TEXT    NOT NULL,
    endpoint            TEXT    NOT NULL,
    model               TEXT,
    connection          TEXT,
    stream              INTEGER NOT NULL,
    decision            TEXT    NOT NULL,
    reason              TEXT,
    policy_ids_json     TEXT    NOT NULL,
    status              INTEGER NOT NULL,
    outcome             TEXT    NOT NULL,
    upstream_latency_us INTEGER,
    total_latency_us    INTEGER NOT NULL,
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    total_tokens        INTEGER,
    cached_tokens       INTEGER
);
CREATE INDEX request_records_time ON request_records (started_at_ms);
CREATE INDEX request_records_subject ON request_records (subject, started_at_ms);

-- Warden-issued keys. Only a SHA-256 of the key is kept: keys carry 256 bits
-- of randomness, so a fast hash is enough (no password-style stretching).
CREATE TABLE api_keys (
    id             TEXT    PRIMARY KEY,
    key_hash       BLOB    NOT NULL,
    owner          TEXT    NOT NULL,
    groups_json    TEXT    NOT NULL,
    models_json    TEXT,
    description    TEXT,
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER,
    revoked_at_ms  INTEGER
);
