-- +goose Up
-- The order saga (issue 12). Every table here is a read model owned by a
-- projection (so a rebuild may replace it: no foreign keys, no
-- database-set columns); seq is the stream sequence of the last event that
-- wrote the row.

-- sagas and saga_steps: the "sagas" projection of the SAGAS stream, as
-- domain/saga's fold shows each saga.
CREATE TABLE sagas (
    id           text        PRIMARY KEY,
    type         text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('running', 'completed', 'compensating', 'compensated',
                                                        'needs_attention', 'failed')),
    current_step text        NOT NULL,
    reason       text        NOT NULL,
    aborted      boolean     NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    seq          bigint      NOT NULL
);
-- GET /api/sagas?status=&cursor=, newest first.
CREATE INDEX sagas_status_idx ON sagas (status, created_at DESC, id DESC);
CREATE INDEX sagas_created_idx ON sagas (created_at DESC, id DESC);

-- One row per step of a saga, in definition order (position from 0).
-- comp_status is '' (not run), running, compensated or failed.
CREATE TABLE saga_steps (
    saga_id       text        NOT NULL,
    position      integer     NOT NULL,
    name          text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'compensating',
                                                         'compensated', 'skipped')),
    attempts      integer     NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    error         text        NOT NULL,
    comp_status   text        NOT NULL,
    comp_attempts integer     NOT NULL,
    comp_error    text        NOT NULL,
    seq           bigint      NOT NULL,
    PRIMARY KEY (saga_id, position)
);

-- users, products, orders and payments: the "orders" projection of the
-- ORDERS stream (the saga's participants).
CREATE TABLE users (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    seq        bigint      NOT NULL
);

-- stock is on hand (sold units leave it), reserved is held by
-- reservations; free = stock - reserved.
CREATE TABLE products (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    price_cents bigint      NOT NULL,
    stock       bigint      NOT NULL,
    reserved    bigint      NOT NULL,
    sold        bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    seq         bigint      NOT NULL
);

CREATE TABLE orders (
    id          text        PRIMARY KEY,
    user_id     text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    total_cents bigint      NOT NULL,
    items       jsonb       NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    seq         bigint      NOT NULL
);
-- A user's orders, newest first.
CREATE INDEX orders_user_idx ON orders (user_id, created_at DESC, id DESC);

-- One row per payment idempotency key of an order. status: charged,
-- declined, refunded or voided; charged_at is set by the charge.
CREATE TABLE payments (
    order_id     text        NOT NULL,
    key          text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('charged', 'declined', 'refunded', 'voided')),
    amount_cents bigint      NOT NULL,
    token        text        NOT NULL,
    attempt      integer     NOT NULL,
    reason       text        NOT NULL,
    charged_at   timestamptz,
    updated_at   timestamptz NOT NULL,
    seq          bigint      NOT NULL,
    PRIMARY KEY (order_id, key)
);

-- +goose Down
DROP TABLE payments;
DROP TABLE orders;
DROP TABLE products;
DROP TABLE users;
DROP TABLE saga_steps;
DROP TABLE sagas;
