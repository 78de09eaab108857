-- Leased workers (issue 14, the GCE warm pool; generic for any backend with reusable workers).
--
-- One row per worker a backend keeps for reuse (a VM that idles between jobs). `state` is
-- busy (running job_id), idle (waiting since idle_since), claimed (job_id is being dispatched
-- by `holder`, a lease holder token host:pid:token, since claimed_at) or draining (being
-- deleted). Every change is a compare-and-set on (state, job_id) inside BEGIN IMMEDIATE
-- (goldfish.runs.workers), so two claims can never take the same idle worker. `fit` is the
-- backend's compatibility key (machine, accelerators, image, spot...); a job claims only a
-- worker with its fit in a zone it allows. Numbered 0007: 0006 is taken by another branch.

CREATE TABLE workers (
    backend         TEXT NOT NULL,
    name            TEXT NOT NULL,
    profile         TEXT NOT NULL DEFAULT '',
    fit             TEXT NOT NULL DEFAULT '',
    zone            TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,                  -- busy idle claimed draining
    job_id          TEXT,
    holder          TEXT,
    claimed_at      REAL,
    idle_since      REAL,
    idle_timeout    REAL NOT NULL DEFAULT 0,        -- seconds an idle worker lives
    hourly_usd      REAL,
    errors          INTEGER NOT NULL DEFAULT 0,     -- liveness checks that failed in a row
    data            TEXT NOT NULL DEFAULT '{}',
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    PRIMARY KEY (backend, name)
);
CREATE INDEX workers_by_fit ON workers(backend, state, fit);
