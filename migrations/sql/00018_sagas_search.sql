-- +goose Up
-- Issue 26: operators search sagas by user and by a prefix of their id,
-- and mark a step after the pivot resolved.
--
-- user_id is the saga input's user (an order saga's), written by the sagas
-- projection when the saga starts. Sagas already stored take it from their
-- order; one that ended before its order was created keeps '' until
-- `eventline projections rebuild sagas --force`.
ALTER TABLE sagas ADD COLUMN user_id text NOT NULL DEFAULT '';
UPDATE sagas s SET user_id = o.user_id FROM orders o WHERE o.id = s.id AND s.user_id = '';
CREATE INDEX sagas_user_idx ON sagas (user_id, created_at DESC, id DESC) WHERE user_id <> '';
-- A saga id's first characters: a range of ids in byte order (C), which a
-- prepared statement's generic plan can use (LIKE with a parameter cannot).
CREATE INDEX sagas_id_prefix_idx ON sagas (id COLLATE "C");

-- A compensated saga says why (domain/saga: the first failed step and its
-- error, or the operator's abort), as the projection now writes it.
UPDATE sagas s SET reason = CASE WHEN s.aborted THEN 'aborted by an operator'
        ELSE coalesce((SELECT st.name || CASE WHEN st.error = '' THEN ' failed' ELSE ' failed: ' || st.error END
              FROM saga_steps st WHERE st.saga_id = s.id AND st.status = 'failed' ORDER BY st.position LIMIT 1), '') END
    WHERE s.status = 'compensated' AND s.reason = '';

-- A step after the pivot an operator marked resolved.
ALTER TABLE saga_steps DROP CONSTRAINT saga_steps_status_check;
ALTER TABLE saga_steps ADD CONSTRAINT saga_steps_status_check CHECK (status IN ('pending', 'running', 'completed',
    'failed', 'compensating', 'compensated', 'skipped', 'resolved'));

-- +goose Down
ALTER TABLE saga_steps DROP CONSTRAINT saga_steps_status_check;
ALTER TABLE saga_steps ADD CONSTRAINT saga_steps_status_check CHECK (status IN ('pending', 'running', 'completed',
    'failed', 'compensating', 'compensated', 'skipped'));
DROP INDEX sagas_id_prefix_idx;
DROP INDEX sagas_user_idx;
ALTER TABLE sagas DROP COLUMN user_id;
