-- Users by name in bytewise order (collation "C"), whatever the database's locale: lists page
-- through users by name, and the stores' check walks users (here) and lockers' holders
-- (MongoDB, which compares strings bytewise) in one order. The primary key keeps the
-- database's collation for lookups; this index serves the order and the start of every page.
CREATE INDEX users_by_name_bytewise ON users (name COLLATE "C");
