-- Where a row may still appear below the chain's newest seal. Rows are appended concurrently, so a
-- transaction still in flight when the sealer passes leaves a hole in the sequence that it may fill
-- later (or never, if it rolled back). The sealer records each hole it passes over as a range and
-- looks for late rows there only, instead of searching every row of the last hour for a missing
-- seal on every pass (whose cost grew with the hour's reads). A range is forgotten once filled, or
-- an hour after it was noticed.
CREATE TABLE audit_seal_gaps (
    first_seq   BIGINT NOT NULL,
    last_seq    BIGINT NOT NULL,
    noticed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (first_seq),
    CHECK (last_seq >= first_seq)
);

-- The holes below the newest seal that the search this replaces would still have looked into:
-- sequence numbers of the last hour's range with no seal.
INSERT INTO audit_seal_gaps (first_seq, last_seq)
SELECT min(seq), max(seq) FROM (
    SELECT g AS seq, g - row_number() OVER (ORDER BY g) AS run
      FROM generate_series(
               (SELECT coalesce(min(seq), 1) FROM audit_log WHERE at > now() - interval '1 hour'),
               (SELECT coalesce(max(seq), 0) FROM audit_seals)) g
     WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.seq = g)) missing
GROUP BY run;
