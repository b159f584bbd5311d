-- The JSON API's idempotency keys: a POST with `Idempotency-Key` is the request this account
-- first sent with that key; the same key with another body is refused (409), not taken as a
-- retry. `body_hash` is the SHA-256 of the request as parsed (route and fields, never a
-- password: a registration's password is left out of it).
CREATE TABLE idempotency_keys (
    name TEXT NOT NULL,
    key UUID NOT NULL,
    request_id UUID NOT NULL,
    body_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
