-- +goose Up
-- Workflow sync (issue 13). customers, workflows and sync_runs are the read
-- model of the WORKFLOWS stream, owned by the "syncmodel" projection (so a
-- rebuild may replace them: no foreign keys, no database-set columns). seq
-- is the stream sequence of the last event that wrote the row.
CREATE TABLE customers (
    id               uuid        PRIMARY KEY,
    name             text        NOT NULL,
    base_url         text        NOT NULL,
    client_id        text        NOT NULL,
    created_at       timestamptz NOT NULL,
    last_sync_id     text,
    last_sync_status text,
    last_sync_at     timestamptz,
    seq              bigint      NOT NULL
);
-- The customers list, by name.
CREATE INDEX customers_name_idx ON customers (name, id);

-- id is a UUID v5 of customer_id:zuora_id, so that a rebuild finds the same
-- ids. Zuora ids are unique per tenant only. deleting_sync marks a row
-- that sync found gone: it is deleted when that sync completes, unmarked
-- when it fails.
CREATE TABLE workflows (
    id             uuid        PRIMARY KEY,
    customer_id    uuid        NOT NULL,
    zuora_id       bigint      NOT NULL,
    name           text        NOT NULL,
    description    text        NOT NULL,
    status         text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    last_synced_at timestamptz,
    deleting_sync  text,
    seq            bigint      NOT NULL,
    -- Also the listing of a customer's workflows in zuora_id order.
    CONSTRAINT workflows_customer_zuora_key UNIQUE (customer_id, zuora_id)
);
-- The listing narrowed by status.
CREATE INDEX workflows_customer_status_idx ON workflows (customer_id, status, zuora_id);
-- The rows a sync marked, found when it completes or fails.
CREATE INDEX workflows_deleting_idx ON workflows (customer_id, deleting_sync) WHERE deleting_sync IS NOT NULL;

CREATE TABLE sync_runs (
    sync_id     text        PRIMARY KEY,
    customer_id uuid        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    trigger     text        NOT NULL,
    slot        text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    created     integer     NOT NULL,
    updated     integer     NOT NULL,
    deleted     integer     NOT NULL,
    unchanged   integer     NOT NULL,
    total       integer     NOT NULL,
    errors      jsonb       NOT NULL,
    pages       integer     NOT NULL,
    reason      text        NOT NULL,
    seq         bigint      NOT NULL
);
-- A customer's sync history, newest first.
CREATE INDEX sync_runs_customer_idx ON sync_runs (customer_id, started_at DESC, sync_id DESC);

-- The Zuora client secret, encrypted (AES-GCM) with EVENTLINE_SECRET_KEY.
-- Written by the API before the customer.created event, never by a
-- projection: a rebuild never touches it.
CREATE TABLE customer_credentials (
    customer_id uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    nonce       bytea       NOT NULL,
    secret      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE customer_credentials;
DROP TABLE sync_runs;
DROP TABLE workflows;
DROP TABLE customers;
