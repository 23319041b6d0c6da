-- Topics the API created through KafkaTopic resources; kept here so plan limits (topic count,
-- total partitions) are checked in the same transaction that records the topic.
CREATE TABLE topics (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    name TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    partitions BIGINT NOT NULL,
    replicas BIGINT NOT NULL,
    retention_hours BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX topics_name ON topics (cluster_id, name);
