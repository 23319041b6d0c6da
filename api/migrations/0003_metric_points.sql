-- Broker metrics the API samples for the console's plots (issue 18): raw points (resolution 0)
-- kept for a couple of hours, then 5-minute averages (resolution 300) kept for days. Values are
-- f64 written as decimal text (the portability rule: only TEXT and BIGINT columns); labels are
-- a JSON object with sorted keys, e.g. {"topic":"orders"}.
CREATE TABLE metric_points (
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    series TEXT NOT NULL,
    labels TEXT NOT NULL,
    resolution BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX metric_points_by_cluster ON metric_points (cluster_id, series, ts);
CREATE INDEX metric_points_by_age ON metric_points (resolution, ts);
