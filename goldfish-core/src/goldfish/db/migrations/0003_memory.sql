-- Memory (issue: goldfish-mcp): notes and decisions, one full-text index over everything an agent
-- may want to recall, and "seen" markers so status shows each finding and review once.
--
-- The index is kept by triggers, so every writer (CLI, server, a reconciler thread in another
-- process) updates it in the same transaction as the row it indexes: nothing to re-sync, nothing
-- lost on a crash. Columns other than `text` are stored, not indexed.

CREATE TABLE notes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL DEFAULT 'note',   -- note | decision | question
    text            TEXT NOT NULL,
    run_id          TEXT,                           -- the run it is about, if any
    workspace       TEXT,
    at              REAL NOT NULL
);
CREATE INDEX notes_by_kind ON notes(kind, id);

CREATE VIRTUAL TABLE memory_fts USING fts5(
    text,
    kind UNINDEXED,                                  -- note decision question run conclusion finding pattern
    ref UNINDEXED,                                   -- n<id> | run id | f<id> | p<id>
    workspace UNINDEXED,
    at UNINDEXED,
    tokenize = 'porter unicode61'
);

ALTER TABLE findings ADD COLUMN seen_at REAL;
CREATE INDEX findings_unseen ON findings(id) WHERE seen_at IS NULL;
ALTER TABLE reviews ADD COLUMN seen_at REAL;
CREATE INDEX reviews_unseen ON reviews(id) WHERE seen_at IS NULL;
CREATE INDEX conclusions_by_at ON conclusions(at);
-- newest-first scans in status
CREATE INDEX runs_by_created ON runs(created_at);

CREATE TRIGGER memory_notes AFTER INSERT ON notes BEGIN
    INSERT INTO memory_fts (text, kind, ref, workspace, at)
    VALUES (new.text, new.kind, 'n' || new.id, new.workspace, new.at);
END;

CREATE TRIGGER memory_runs AFTER INSERT ON runs
WHEN trim(coalesce(json_extract(new.reason, '$.description'), '') ||
          coalesce(json_extract(new.reason, '$.hypothesis'), '') ||
          coalesce(json_extract(new.reason, '$.goal'), '') ||
          coalesce(json_extract(new.reason, '$.approach'), '')) != '' BEGIN
    INSERT INTO memory_fts (text, kind, ref, workspace, at)
    VALUES (trim(coalesce(json_extract(new.reason, '$.description'), '') || ' ' ||
                 coalesce(json_extract(new.reason, '$.hypothesis'), '') || ' ' ||
                 coalesce(json_extract(new.reason, '$.goal'), '') || ' ' ||
                 coalesce(json_extract(new.reason, '$.approach'), '') || ' ' ||
                 coalesce(json_extract(new.reason, '$.min_result'), '')),
            'run', new.id, new.workspace, new.created_at);
END;

-- A conclusion's entry has rowid -(conclusions.rowid): a new verdict (INSERT OR REPLACE) first
-- deletes the old entry by rowid (the old row is still visible BEFORE the insert), so
-- re-concluding never scans the index. Other entries get positive rowids.
CREATE TRIGGER memory_conclusions_replace BEFORE INSERT ON conclusions BEGIN
    DELETE FROM memory_fts WHERE rowid IN
        (SELECT -rowid FROM conclusions WHERE run_id = new.run_id);
END;

CREATE TRIGGER memory_conclusions AFTER INSERT ON conclusions BEGIN
    INSERT INTO memory_fts (rowid, text, kind, ref, workspace, at)
    VALUES (-new.rowid, new.outcome || ': ' || new.notes, 'conclusion', new.run_id,
            (SELECT workspace FROM runs WHERE id = new.run_id), new.at);
END;

CREATE TRIGGER memory_findings AFTER INSERT ON findings BEGIN
    INSERT INTO memory_fts (text, kind, ref, workspace, at)
    VALUES (new.severity || ' ' || new.source || '.' || new.check_name || ': ' || new.message ||
            coalesce(' ' || json_extract(new.data, '$.known_pattern.title'), '') ||
            coalesce(' ' || json_extract(new.data, '$.prevention'), ''),
            'finding', 'f' || new.id, (SELECT workspace FROM runs WHERE id = new.run_id), new.at);
END;

INSERT INTO memory_fts (text, kind, ref, workspace, at)
SELECT trim(coalesce(json_extract(reason, '$.description'), '') || ' ' ||
            coalesce(json_extract(reason, '$.hypothesis'), '') || ' ' ||
            coalesce(json_extract(reason, '$.goal'), '')), 'run', id, workspace, created_at
FROM runs WHERE trim(coalesce(json_extract(reason, '$.description'), '') ||
                     coalesce(json_extract(reason, '$.hypothesis'), '') ||
                     coalesce(json_extract(reason, '$.goal'), '')) != '';

INSERT INTO memory_fts (rowid, text, kind, ref, workspace, at)
SELECT -c.rowid, c.outcome || ': ' || c.notes, 'conclusion', c.run_id, r.workspace, c.at
FROM conclusions c LEFT JOIN runs r ON r.id = c.run_id;

INSERT INTO memory_fts (text, kind, ref, workspace, at)
SELECT f.severity || ' ' || f.source || '.' || f.check_name || ': ' || f.message, 'finding',
       'f' || f.id, r.workspace, f.at
FROM findings f LEFT JOIN runs r ON r.id = f.run_id;
