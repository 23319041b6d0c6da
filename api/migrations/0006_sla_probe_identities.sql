-- The SLA probe's own Kafka identity per cluster (a SCRAM-SHA-512 KafkaUser `eddy-sla-probe`):
-- secured clusters are probed as this user. Its password is sealed with the API's secrets key
-- (ChaCha20-Poly1305, the cluster id as associated data), never stored in clear, and the user
-- is not among the account's Kafka users (users can neither list nor delete it).
CREATE TABLE sla_probe_identities (
    cluster_id TEXT PRIMARY KEY REFERENCES clusters (id),
    username TEXT NOT NULL,
    -- The KafkaUser resource and its password Secret.
    resource_name TEXT NOT NULL,
    secret_name TEXT NOT NULL,
    password_sealed TEXT NOT NULL,
    -- When the operator first reported the KafkaUser Ready; probing starts then, so the
    -- minutes before the credential exists on the brokers are not counted as down.
    ready_at BIGINT,
    created_at BIGINT NOT NULL
);
