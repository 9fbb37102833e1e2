-- Where each streaming export (`[audit.export]`, by its `name`) has got to:
-- the last seq its receiver acknowledged. It only moves forward.
CREATE TABLE export_cursors (
    name           TEXT    PRIMARY KEY NOT NULL,
    seq            INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
