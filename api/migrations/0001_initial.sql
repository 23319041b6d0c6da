-- Eddy control-plane schema. Portable SQL: the same file runs on SQLite and PostgreSQL.
-- Conventions: ids are TEXT (UUIDv7, time-ordered), instants are BIGINT unix seconds,
-- money is TEXT holding an exact decimal, booleans are BIGINT 0/1, JSON is TEXT.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    payment_terms TEXT NOT NULL DEFAULT 'card',
    po_number TEXT,
    billing_notes TEXT,
    billing_email TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    revoked_at BIGINT
);

-- JWT signing keys by kid, used when no keys are configured (so sessions survive restarts).
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    account_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    tier TEXT NOT NULL,
    spec TEXT NOT NULL,
    catalog_version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE plan_prices (
    plan_id TEXT NOT NULL REFERENCES plans (id),
    effective_from BIGINT NOT NULL,
    monthly_price TEXT NOT NULL,
    PRIMARY KEY (plan_id, effective_from)
);

CREATE TABLE clusters (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    plan_id TEXT NOT NULL REFERENCES plans (id),
    region TEXT NOT NULL,
    namespace TEXT NOT NULL,
    version TEXT NOT NULL,
    storage_gb BIGINT NOT NULL,
    state TEXT NOT NULL,
    deletion_protection BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    generation BIGINT,
    bootstrap TEXT,
    idempotency_key TEXT,
    request_fingerprint TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX clusters_live_name ON clusters (account_id, name) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX clusters_idempotency ON clusters (account_id, idempotency_key);
CREATE UNIQUE INDEX clusters_resource ON clusters (namespace, resource_name);

CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    -- 1 while pending or running, NULL after: the partial unique index below makes
    -- "one active operation per cluster" a database guarantee, race-free on both backends.
    active BIGINT,
    params TEXT NOT NULL,
    steps TEXT NOT NULL,
    error TEXT,
    target_generation BIGINT,
    restart_token TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE UNIQUE INDEX operations_one_active ON operations (cluster_id) WHERE active = 1;
CREATE INDEX operations_cluster ON operations (cluster_id, id);

CREATE TABLE usage_segments (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    plan_id TEXT NOT NULL,
    dedicated BIGINT NOT NULL,
    monthly_price TEXT NOT NULL,
    storage_gb BIGINT NOT NULL,
    included_storage_gb BIGINT NOT NULL,
    extra_storage_price TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE UNIQUE INDEX usage_segments_one_open ON usage_segments (cluster_id) WHERE ended_at IS NULL;
CREATE INDEX usage_segments_account ON usage_segments (account_id, started_at);

CREATE TABLE downtime (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters (id),
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE UNIQUE INDEX downtime_one_open ON downtime (cluster_id) WHERE ended_at IS NULL;

-- Invoices and credit notes; never updated after insert (corrections are credit notes).
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE,
    corrects TEXT REFERENCES invoices (id),
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    payment_terms TEXT NOT NULL,
    po_number TEXT,
    billing_notes TEXT,
    currency TEXT NOT NULL,
    total TEXT NOT NULL,
    lines TEXT NOT NULL
);
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (account_id, period_start) WHERE kind = 'invoice';

-- Append-only: the application never updates or deletes audit rows.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    account_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_account ON audit_log (account_id, id);
