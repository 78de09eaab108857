-- Workspaces, versions, slots, tags and the event log (issue: core foundation).

CREATE TABLE workspaces (
    name            TEXT PRIMARY KEY,
    goal            TEXT NOT NULL DEFAULT '',
    created_at      REAL NOT NULL,
    parent_workspace TEXT,
    parent_version  INTEGER,
    next_version    INTEGER NOT NULL DEFAULT 1,
    deleted_at      REAL
);

CREATE TABLE versions (
    workspace   TEXT NOT NULL REFERENCES workspaces(name),
    number      INTEGER NOT NULL,
    tag         TEXT NOT NULL UNIQUE,           -- "<workspace>-v<number>"
    commit_sha  TEXT NOT NULL,
    tree_sha    TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL DEFAULT 'save',   -- create | save | run | rollback | unmount
    created_at  REAL NOT NULL,
    PRIMARY KEY (workspace, number)
);
CREATE INDEX versions_by_tree ON versions(workspace, tree_sha);

CREATE TABLE slots (
    slot        TEXT PRIMARY KEY,               -- "w1", "w2", ...
    workspace   TEXT UNIQUE REFERENCES workspaces(name),
    base_version INTEGER,                       -- version the slot was last synced with
    mounted_at  REAL
);

CREATE TABLE tags (
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,                  -- version | run
    target      TEXT NOT NULL,                  -- "<workspace>-v<n>" or a run id
    created_at  REAL NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, name)
);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    kind        TEXT NOT NULL,                  -- e.g. workspace.created, version.saved
    subject     TEXT NOT NULL DEFAULT '',       -- workspace name, run id, ...
    summary     TEXT NOT NULL DEFAULT '',
    data        TEXT NOT NULL DEFAULT '{}'      -- JSON
);
CREATE INDEX events_by_kind ON events(kind, at);
CREATE INDEX events_by_subject ON events(subject, at);

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
