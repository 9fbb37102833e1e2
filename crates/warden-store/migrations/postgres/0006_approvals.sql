-- Just-in-time approvals and the grants approvers give. The whole object
-- is JSON; the columns beside it are what is filtered on. `version` makes
-- every change conditional on what its writer read.
CREATE TABLE approvals (
    id             TEXT    COLLATE "C" PRIMARY KEY,
    created_ms     BIGINT  NOT NULL,
    state          TEXT    COLLATE "C" NOT NULL,
    subject        TEXT    COLLATE "C",
    issuer         TEXT    COLLATE "C",
    version        BIGINT  NOT NULL,
    approval_json  TEXT    NOT NULL
);
CREATE INDEX approvals_state ON approvals (state, created_ms);

CREATE TABLE grants (
    id          TEXT    COLLATE "C" PRIMARY KEY,
    approval_id TEXT    COLLATE "C" NOT NULL,
    subject     TEXT    COLLATE "C",
    issuer      TEXT    COLLATE "C",
    created_ms  BIGINT  NOT NULL,
    expires_ms  BIGINT  NOT NULL,
    revoked_ms  BIGINT,
    grant_json  TEXT    NOT NULL
);
CREATE INDEX grants_principal ON grants (subject, expires_ms);
