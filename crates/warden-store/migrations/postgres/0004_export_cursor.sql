-- Where each streaming export (`[audit.export]`, by its `name`) has got to:
-- the last seq its receiver acknowledged. It only moves forward.
CREATE TABLE export_cursors (
    name           TEXT    COLLATE "C" PRIMARY KEY,
    seq            BIGINT  NOT NULL,
    updated_at_ms  BIGINT  NOT NULL
);
