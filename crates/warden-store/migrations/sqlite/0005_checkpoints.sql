-- Signed checkpoints the server made of its own trail (see warden-store's
-- `checkpoint` module). A copy kept here is for convenience; the point of a
-- checkpoint is the copy published where the database's writers cannot reach.
CREATE TABLE audit_checkpoints (
    seq             INTEGER NOT NULL,
    tree_size       INTEGER NOT NULL,
    root            TEXT    NOT NULL,
    time_ms         INTEGER NOT NULL,
    checkpoint_json TEXT    NOT NULL
);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);
