-- Users of the locker app. `locker` is projected from locker-service's outcomes; `deleting`
-- marks a user whose deletion waits for the release of their locker.
CREATE TABLE users (
    name        TEXT        PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    locker      TEXT,
    deleting    BOOLEAN     NOT NULL DEFAULT false
);

-- Every request locker-app sent, with its outcome once decided (NULL while pending).
CREATE TABLE requests (
    request_id  UUID        PRIMARY KEY,
    kind        TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    outcome     TEXT,
    locker      TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at  TIMESTAMPTZ
);

CREATE INDEX requests_pending_by_name ON requests (name) WHERE outcome IS NULL;

-- Events to publish, written in the transaction that decided them and deleted once the broker
-- confirmed them.
CREATE TABLE outbox (
    message_id  UUID        PRIMARY KEY,
    event_type  TEXT        NOT NULL,
    body        TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
