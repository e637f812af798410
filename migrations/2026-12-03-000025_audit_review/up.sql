-- Reviewers look up what one person or system did, newest first (the audit viewer).
CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);
