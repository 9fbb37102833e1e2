-- Just-in-time approvals and the grants approvers give. The whole object
-- is JSON; the columns beside it are what is filtered on. `version` makes
-- every change conditional on what its writer read.
CREATE TABLE approvals (
    id             TEXT    PRIMARY KEY,
    created_ms     INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    subject        TEXT,
    issuer         TEXT,
    version        INTEGER NOT NULL,
    approval_json  TEXT    NOT NULL
);
CREATE INDEX approvals_state ON approvals (state, created_ms);

CREATE TABLE grants (
    id          TEXT    PRIMARY KEY,
    approval_id TEXT    NOT NULL,
    subject     TEXT,
    issuer      TEXT,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER,
    grant_json  TEXT    NOT NULL
);
CREATE INDEX grants_principal ON grants (subject, expires_ms);
