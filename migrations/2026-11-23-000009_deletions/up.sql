-- Deletions and reverts.
--
-- A deleted resource gets a tombstone version (deleted = TRUE, content naming only its type and
-- id), which becomes its current version; its mapped row is removed (a Patient's row turns back
-- into a placeholder). Reads of it answer 410 Gone.
--
-- The same content may now stand in two versions of a resource: a revert to an earlier content
-- (newer by meta.lastUpdated) is a new version, and a re-created resource may bring back what it
-- held before its deletion. Duplicates are still impossible: each version number is unique per
-- resource, and loaders of a resource are serialized by its advisory lock.
ALTER TABLE raw_resources ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE raw_resources DROP CONSTRAINT raw_resources_content_key;
