-- Data lifecycle (issue 17): reversible pruning and gc's memory of what it saw unreferenced.
--
-- A pruned run or version leaves every table it had rows in; the rows are kept here as JSON
-- ({table: [row, ...]}) until `restore` puts them back or gc purges them once the retention window
-- (`retention.window_days`) has passed. Until then gc treats what they reference as reachable.
-- gc_seen: when gc first found a stored object unreferenced, for storage backends that cannot
-- tell an object's age (the grace period counts from then).

CREATE TABLE pruned (
    kind            TEXT NOT NULL,                  -- run | version
    id              TEXT NOT NULL,                  -- run id | version tag
    workspace       TEXT NOT NULL DEFAULT '',
    pruned_at       REAL NOT NULL,
    rows            TEXT NOT NULL,                  -- JSON {table: [row, ...]}
    PRIMARY KEY (kind, id)
);
CREATE INDEX pruned_by_at ON pruned(pruned_at);

CREATE TABLE gc_seen (
    uri             TEXT PRIMARY KEY,
    first_seen      REAL NOT NULL
);
