-- Weather records as the recorder showed them; `recorded_at` is when the user pressed Record.
CREATE TABLE records (
    record_id     UUID             PRIMARY KEY,
    city          TEXT             NOT NULL,
    region        TEXT,
    country       TEXT             NOT NULL,
    latitude      DOUBLE PRECISION NOT NULL,
    longitude     DOUBLE PRECISION NOT NULL,
    timezone      TEXT             NOT NULL,
    local_time    TEXT             NOT NULL,
    observed_at   TIMESTAMPTZ      NOT NULL,
    temperature_c DOUBLE PRECISION NOT NULL,
    weather_code  INTEGER          NOT NULL,
    condition     TEXT             NOT NULL,
    is_day        BOOLEAN          NOT NULL,
    recorded_at   TIMESTAMPTZ      NOT NULL
);

CREATE INDEX records_newest_first ON records (recorded_at DESC, record_id DESC);

-- Deleted records, so that a deletion that arrives before its record still wins.
CREATE TABLE deleted_records (
    record_id  UUID        PRIMARY KEY,
    deleted_at TIMESTAMPTZ NOT NULL
);
