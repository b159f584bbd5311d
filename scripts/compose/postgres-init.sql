-- docker-compose.yml: the databases besides POSTGRES_DB (warren_votes), owned by the warren
-- user. Each service applies its own migrations at start.
CREATE DATABASE warren_users;
CREATE DATABASE warren_records;
