-- Run engine: runs, stage runs, every state transition, outputs, pinned inputs (lineage),
-- metric summaries, findings, reviews, conclusions and data sources (issue: run engine).

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,               -- r-<yyyymmdd>-<6 hex>
    workspace       TEXT NOT NULL,
    version         INTEGER,
    version_tag     TEXT NOT NULL DEFAULT '',
    commit_sha      TEXT NOT NULL DEFAULT '',
    tree_sha        TEXT NOT NULL DEFAULT '',
    pipeline        TEXT NOT NULL DEFAULT '',       -- pipeline name
    state           TEXT NOT NULL,                  -- queued preparing running finishing done failed cancelled lost
    reason          TEXT NOT NULL DEFAULT '{}',     -- JSON {description, hypothesis, goal, approach, min_result}
    overrides       TEXT NOT NULL DEFAULT '{}',     -- JSON {config: {stage: {key: value}}, inputs: {stage: {input: ref}}}
    options         TEXT NOT NULL DEFAULT '{}',     -- JSON {force, rerun, max_parallel}
    results_spec    TEXT,                           -- JSON {metric, direction, stage}
    error           TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    started_at      REAL,
    finished_at     REAL
);
CREATE INDEX runs_by_workspace ON runs(workspace, created_at);
CREATE INDEX runs_by_state ON runs(state);

CREATE TABLE stage_runs (
    run_id          TEXT NOT NULL REFERENCES runs(id),
    stage           TEXT NOT NULL,
    position        INTEGER NOT NULL,               -- topological order
    state           TEXT NOT NULL,                  -- run states + reused, skipped
    module          TEXT NOT NULL DEFAULT '',
    profile         TEXT NOT NULL DEFAULT '',
    backend         TEXT NOT NULL DEFAULT '',
    upstream        TEXT NOT NULL DEFAULT '[]',     -- JSON list of stage names this one waits for
    config          TEXT NOT NULL DEFAULT '{}',     -- JSON merged config
    spec            TEXT NOT NULL DEFAULT '{}',     -- JSON {outputs, checks, timeout_minutes, code_hash, runtime, definition}
    inputs          TEXT NOT NULL DEFAULT '{}',     -- JSON input name -> pinned ref (filled at launch)
    cacheable       INTEGER NOT NULL DEFAULT 1,
    cache_key       TEXT,                           -- NULL until every input digest is known
    key_parts       TEXT NOT NULL DEFAULT '{}',     -- JSON {code, definition, config, inputs, runtime}
    reused_from     TEXT,                           -- "<run_id>/<stage>" for reused stages
    note            TEXT NOT NULL DEFAULT '',       -- why reused / rerun / skipped (shown)
    job_id          TEXT,
    handle          TEXT,                           -- JSON compute.Handle
    exit_code       INTEGER,
    cause           TEXT,
    error           TEXT,                           -- message + traceback tail
    metrics_offset  INTEGER NOT NULL DEFAULT 0,     -- bytes of metrics.jsonl already checked
    heartbeat_at    REAL,
    created_at      REAL NOT NULL,
    started_at      REAL,
    finished_at     REAL,
    PRIMARY KEY (run_id, stage)
);
CREATE INDEX stage_runs_by_key ON stage_runs(cache_key, state);
CREATE INDEX stage_runs_by_state ON stage_runs(state);

CREATE TABLE transitions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT NOT NULL,
    stage           TEXT NOT NULL DEFAULT '',       -- '' = the run itself
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    at              REAL NOT NULL,
    reason          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX transitions_by_run ON transitions(run_id, id);

CREATE TABLE outputs (
    run_id          TEXT NOT NULL,
    stage           TEXT NOT NULL,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL,                  -- npy csv json file directory
    digest          TEXT NOT NULL,                  -- content hash (artifact store)
    uri             TEXT NOT NULL,
    size            INTEGER NOT NULL DEFAULT 0,
    kind            TEXT NOT NULL DEFAULT 'file',   -- file | directory
    PRIMARY KEY (run_id, stage, name)
);
CREATE INDEX outputs_by_digest ON outputs(digest);

CREATE TABLE stage_inputs (                          -- lineage: what each stage run consumed
    run_id          TEXT NOT NULL,
    stage           TEXT NOT NULL,
    name            TEXT NOT NULL,                  -- the input's name
    type            TEXT NOT NULL,
    source          TEXT,                           -- a registered source's name, or NULL
    from_run        TEXT,                           -- upstream stage run, or NULL
    from_stage      TEXT,
    from_output     TEXT,
    digest          TEXT NOT NULL,
    PRIMARY KEY (run_id, stage, name)
);
CREATE INDEX stage_inputs_by_source ON stage_inputs(source);
CREATE INDEX stage_inputs_by_upstream ON stage_inputs(from_run, from_stage, from_output);
CREATE INDEX stage_inputs_by_digest ON stage_inputs(digest);

CREATE TABLE metric_summaries (
    run_id          TEXT NOT NULL,
    stage           TEXT NOT NULL,
    name            TEXT NOT NULL,
    last            REAL,
    min             REAL,
    max             REAL,
    count           INTEGER NOT NULL DEFAULT 0,
    slope           REAL,                           -- trend: least-squares slope per step over the recent window
    last_step       INTEGER,
    updated_at      REAL NOT NULL,
    PRIMARY KEY (run_id, stage, name)
);
CREATE INDEX metric_summaries_by_name ON metric_summaries(name, last);

CREATE TABLE findings (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT NOT NULL,
    stage           TEXT,
    phase           TEXT NOT NULL,                  -- preflight review_before outputs metrics review_after
    source          TEXT NOT NULL,
    check_name      TEXT NOT NULL,
    severity        TEXT NOT NULL,
    message         TEXT NOT NULL,
    signal          TEXT,
    data            TEXT NOT NULL DEFAULT '{}',
    at              REAL NOT NULL
);
CREATE INDEX findings_by_run ON findings(run_id, id);

CREATE TABLE reviews (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT NOT NULL,
    phase           TEXT NOT NULL,                  -- before | after
    reviewer        TEXT NOT NULL,
    decision        TEXT NOT NULL,
    summary         TEXT NOT NULL DEFAULT '',
    usage           TEXT NOT NULL DEFAULT '{}',
    at              REAL NOT NULL
);
CREATE INDEX reviews_by_run ON reviews(run_id);

CREATE TABLE conclusions (
    run_id          TEXT PRIMARY KEY,
    outcome         TEXT NOT NULL,                  -- success | partial | miss
    metric          TEXT,
    value           REAL,
    notes           TEXT NOT NULL DEFAULT '',
    at              REAL NOT NULL
);

CREATE TABLE sources (
    name            TEXT PRIMARY KEY,
    type            TEXT NOT NULL,                  -- npy csv json file directory
    digest          TEXT NOT NULL,
    uri             TEXT NOT NULL,
    size            INTEGER NOT NULL DEFAULT 0,
    kind            TEXT NOT NULL DEFAULT 'file',
    description     TEXT NOT NULL DEFAULT '',
    origin          TEXT NOT NULL DEFAULT '',       -- the path it came from, or "<run>/<stage>.<output>"
    created_at      REAL NOT NULL
);
