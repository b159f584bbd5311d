-- Who is signed in. Only hashes of secrets are stored: the cookie's and the API token's secret
-- are SHA-256'd (they are 256 random bits, so a fast hash is enough), so reading this database
-- does not let anyone sign in.

-- A browser's session: a random secret in an HttpOnly cookie. It ends at `expires_at` (the
-- absolute lifetime, from sign-in) or at `idle_expires_at` (pushed on by use), whichever is
-- first, and at sign-out (the row is deleted).
CREATE TABLE sessions (
    -- Public: binds the session's forms (CSRF tokens, attempt ids); never a credential.
    id UUID PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    idle_expires_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_name ON sessions (name);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- A program's credential, created by an operator and shown once; it acts with its creator's
-- role (read from the users read model at every use) until revoked.
CREATE TABLE api_tokens (
    id UUID PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ,
    revoked_by TEXT
);
CREATE INDEX api_tokens_created ON api_tokens (created_at, id);

-- Failed sign-ins, by name (`name:<name>`) and by client address (`address:<ip>`), kept for
-- the throttling window.
CREATE TABLE sign_in_failures (
    key TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_key_at ON sign_in_failures (key, at);
