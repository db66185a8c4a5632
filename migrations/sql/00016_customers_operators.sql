-- +goose Up
-- Workflow sync, issues 25 and 26: a customer's own bounds of a sync,
-- why Zuora refused its credentials, and its deletion (a tombstone: the
-- row stays with deleted_at, so that the projection still knows which of
-- the customer's events it applied; its workflows are deleted). Every
-- column is written by the syncmodel projection.
ALTER TABLE customers
    ADD COLUMN max_workflows        bigint,
    ADD COLUMN max_bytes            bigint,
    ADD COLUMN credentials_error    text,
    ADD COLUMN credentials_error_at timestamptz,
    ADD COLUMN updated_at           timestamptz,
    ADD COLUMN deleted_at           timestamptz;

-- +goose Down
ALTER TABLE customers
    DROP COLUMN deleted_at,
    DROP COLUMN updated_at,
    DROP COLUMN credentials_error_at,
    DROP COLUMN credentials_error,
    DROP COLUMN max_bytes,
    DROP COLUMN max_workflows;
