-- Linear metric ingestion and SQL-sorted run lists (issue 10).
--
-- stage_runs.metrics_state: the running per-metric state of a stage's metric ingestion (JSON,
-- see goldfish.runs.ingest), written with metrics_offset in one transaction; NULL once the stage
-- ended. `runs --sort METRIC` walks metric_summaries_by_name (name, last) in order and needs one
-- run's value of a metric (metric_summaries_by_run_name) and one page's tags (tags_by_target)
-- without scanning.

ALTER TABLE stage_runs ADD COLUMN metrics_state TEXT;
CREATE INDEX metric_summaries_by_run_name ON metric_summaries(run_id, name);
CREATE INDEX tags_by_target ON tags(kind, target);
