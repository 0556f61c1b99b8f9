-- The change log: what each batch changed (`Touched`, one `kind key` line
-- per entity), so a snapshot catches up by reading only those entities,
-- on the node that wrote and on every other node. Pruned to the most
-- recent batches; a node further behind reads everything.
CREATE TABLE changes (
    version {int} PRIMARY KEY,
    touched TEXT NOT NULL
);
