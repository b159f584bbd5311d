-- How many of a voter's votes were applied, whether or not each one changed the counted
-- option: a vote applied twice shows here (the chaos checker compares it with the votes the
-- voter cast), though "last vote wins" would hide it in the option.
ALTER TABLE votes ADD COLUMN applied_votes INTEGER NOT NULL DEFAULT 1;
