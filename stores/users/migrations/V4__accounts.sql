-- Accounts. `password_hash` is an Argon2id PHC string made by locker-app (never a password);
-- users from before accounts have none and cannot sign in. `role` says what the account may do.
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CONSTRAINT users_role_known CHECK (role IN ('member', 'operator'));

-- Who asked for each request: the signed-in account (the member themself or an operator), or
-- `warren-operator` for the first operator; NULL for requests from before accounts and for the
-- releases user-service asks for itself.
ALTER TABLE requests ADD COLUMN actor TEXT;
