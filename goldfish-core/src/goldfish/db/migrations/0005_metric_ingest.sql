-- Linear metric ingestion and SQL-sorted run lists (issue 10).
--
-- stage_runs.metrics_state: the running per-metric state of a stage's metric ingestion (JSON,
-- see goldfish.runs.ingest), written with metrics_offset in one transaction; NULL once the stage
-- ended. metric_summaries_by_value serves `runs --sort METRIC` (by name, best value first);
-- metric_summaries_by_run_name finds one run's value of a metric without scanning its stages.

ALTER TABLE stage_runs ADD COLUMN metrics_state TEXT;
CREATE INDEX metric_summaries_by_run_name ON metric_summaries(run_id, name);
