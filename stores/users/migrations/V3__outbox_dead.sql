-- Outbox rows that can never be published (an unknown event type, a body that does not decode,
-- a message the broker cannot route), set aside with the reason so that the rows behind them
-- go out. Kept for an operator to inspect; nothing reads them back.
CREATE TABLE outbox_dead (
    message_id  UUID        PRIMARY KEY,
    event_type  TEXT        NOT NULL,
    body        TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    reason      TEXT        NOT NULL,
    dead_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
