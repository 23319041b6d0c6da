-- Alarms and their notification channels (issue 18). A channel's secrets (integration keys,
-- webhook URLs that carry tokens, HMAC secrets) are one JSON object encrypted with
-- ChaCha20-Poly1305 under the API's secrets key (`secret_box`: base64 of nonce + ciphertext);
-- only a hint (the last 4 characters) is ever shown. `config` holds what is not secret (the
-- OpsGenie region, the VictorOps routing key).
CREATE TABLE notification_channels (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    secret_box TEXT NOT NULL,
    secret_hint TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notification_channels_by_account ON notification_channels (account_id);

-- The delivery queue: one row per notice per channel, retried with backoff until delivered or
-- out of attempts. `notice` is the provider-neutral event (never a secret); the provider's
-- request is rendered at send time.
CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    channel_id TEXT NOT NULL REFERENCES notification_channels (id),
    alarm_id TEXT,
    dedup_key TEXT NOT NULL,
    notice TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_by_channel ON notification_deliveries (channel_id, id);
CREATE INDEX notification_deliveries_by_key ON notification_deliveries (channel_id, dedup_key, state);

-- Every attempt of every delivery: the delivery log.
CREATE TABLE notification_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES notification_deliveries (id),
    channel_id TEXT NOT NULL REFERENCES notification_channels (id),
    attempt BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX notification_attempts_by_channel ON notification_attempts (channel_id, id);

-- Alarm rules per account, optionally limited to one cluster. `threshold` is decimal text.
CREATE TABLE alarm_rules (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    cluster_id TEXT REFERENCES clusters (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    threshold TEXT NOT NULL,
    for_secs BIGINT NOT NULL,
    group_name TEXT,
    -- The channels its notices go to (a JSON array of ids); every channel of the account when
    -- NULL.
    channel_ids TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX alarm_rules_by_account ON alarm_rules (account_id);

-- Alarms: opened once per dedup key (the partial unique index holds it under concurrent
-- evaluators), resolved once.
CREATE TABLE alarms (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    rule_id TEXT NOT NULL,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    summary TEXT NOT NULL,
    value TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE UNIQUE INDEX alarms_one_open ON alarms (dedup_key) WHERE resolved_at IS NULL;
CREATE INDEX alarms_by_account ON alarms (account_id, id);

-- SLA evidence: the probe's writes to each dedicated cluster, counted per minute. A minute is
-- down only if it had writes and every one of them failed (Confluent's definition); minutes
-- without writes (the probe not running) are no evidence either way.
CREATE TABLE sla_probe_minutes (
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    minute BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    last_error TEXT,
    PRIMARY KEY (cluster_id, minute)
);
