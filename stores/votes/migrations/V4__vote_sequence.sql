-- A voter's own order of their votes (vote.cast's `sequence`: milliseconds on a clock the voter
-- carries, each vote above the one before), compared before the event's time, because the
-- instances that take votes may have clocks seconds apart. A vote without a sequence counts its
-- occurred_at in milliseconds, on the same scale: the rows already here are given that, and a
-- row left NULL (written by a tally-worker from before this column, during a rolling upgrade)
-- is read as that.
ALTER TABLE votes ADD COLUMN sequence BIGINT;
UPDATE votes SET sequence = floor(extract(epoch FROM occurred_at) * 1000)::bigint;
