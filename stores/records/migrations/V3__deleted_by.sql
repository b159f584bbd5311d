-- Who deleted a record: the operator the deletion event names (NULL for deletions from before
-- accounts, whose events name nobody).
ALTER TABLE deleted_records ADD COLUMN deleted_by TEXT;
