-- Kafka users the API created through KafkaUser resources (issue 15). Never a password: it
-- lives only in the user's Secret in the cluster's namespace and is shown once by the API.
CREATE TABLE kafka_users (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    name TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    secret_name TEXT,
    mechanism TEXT NOT NULL,
    -- ACL entries as JSON (the API's snake_case form).
    acls TEXT NOT NULL,
    -- Bumped on every change; the ETag is derived from it.
    revision BIGINT NOT NULL,
    -- Bumped on every password rotation (written on the KafkaUser as an annotation).
    credential_revision BIGINT NOT NULL,
    idempotency_key TEXT,
    request_fingerprint TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX kafka_users_name ON kafka_users (cluster_id, name);
CREATE UNIQUE INDEX kafka_users_idempotency ON kafka_users (cluster_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
