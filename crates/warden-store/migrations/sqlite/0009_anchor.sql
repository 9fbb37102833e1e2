-- After retention pruning: the signed checkpoint the first kept entry links
-- to. `warden audit verify` starts from it instead of the genesis hash.
CREATE TABLE chain_anchor (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    seq              INTEGER NOT NULL,
    checkpoint_json  TEXT    NOT NULL
);
