-- One counted vote per (poll, voter): the latest by the event's own time, ties broken by the
-- message id, so that redelivered and reordered events cannot move it backwards.
CREATE TABLE votes (
    poll        TEXT        NOT NULL,
    voter_id    UUID        NOT NULL,
    option      TEXT        NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    message_id  UUID        NOT NULL,
    PRIMARY KEY (poll, voter_id)
);

CREATE INDEX votes_by_option ON votes (poll, option);
