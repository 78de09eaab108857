-- Failure patterns (issue: goldfish-svs): one row per distinct failure signature, reviewed by a
-- human (pending -> approved | rejected); an approved pattern marks later matching failures known.

CREATE TABLE patterns (
    id              TEXT PRIMARY KEY,               -- p-<first 10 hex of the signature>
    signature       TEXT NOT NULL UNIQUE,           -- sha256(exception | normalized message | stage)
    status          TEXT NOT NULL,                  -- pending approved rejected
    stage           TEXT NOT NULL DEFAULT '',
    exception       TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',       -- normalized first line of the message
    title           TEXT NOT NULL DEFAULT '',
    symptom         TEXT NOT NULL DEFAULT '',
    root_cause      TEXT NOT NULL DEFAULT '',
    detection       TEXT NOT NULL DEFAULT '',
    prevention      TEXT NOT NULL DEFAULT '',
    severity        TEXT NOT NULL DEFAULT 'warning',
    check_spec      TEXT,                           -- JSON {check, signal?, ...settings}: enforced once approved
    summary_by      TEXT NOT NULL DEFAULT 'deterministic',  -- or the plugin that summarized it
    occurrences     INTEGER NOT NULL DEFAULT 0,
    first_run       TEXT NOT NULL DEFAULT '',
    last_run        TEXT NOT NULL DEFAULT '',
    note            TEXT NOT NULL DEFAULT '',       -- the reviewer's note on approve/reject
    created_at      REAL NOT NULL,
    last_seen       REAL NOT NULL,
    decided_at      REAL
);
CREATE INDEX patterns_by_status ON patterns(status, last_seen);

CREATE TABLE pattern_hits (                         -- every failure that matched a pattern
    pattern_id      TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    stage           TEXT NOT NULL,
    known           INTEGER NOT NULL DEFAULT 0,     -- 1 when the pattern was approved at the time
    at              REAL NOT NULL,
    PRIMARY KEY (pattern_id, run_id, stage)
);
CREATE INDEX pattern_hits_by_run ON pattern_hits(run_id);
