-- Broker metrics the API samples for the console's plots (issue 18). A series is one cluster's
-- named series with one label set (labels: a JSON object with sorted keys, e.g.
-- {"topic":"orders"}); its id is a 64-bit hash of those three, computed by the API, so a point
-- row is small. Points: raw samples (resolution 0) kept a couple of hours, then 5-minute
-- averages (resolution 300) kept for days. Values are f64 as decimal text (the portability rule:
-- only TEXT and BIGINT columns).
CREATE TABLE metric_series (
    id BIGINT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    name TEXT NOT NULL,
    labels TEXT NOT NULL
);
CREATE INDEX metric_series_by_cluster ON metric_series (cluster_id, name);
CREATE TABLE metric_points (
    series_id BIGINT NOT NULL REFERENCES metric_series (id),
    resolution BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX metric_points_by_series ON metric_points (series_id, ts);
CREATE INDEX metric_points_by_age ON metric_points (resolution, ts);
