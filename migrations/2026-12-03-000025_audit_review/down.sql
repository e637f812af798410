DROP INDEX audit_log_actor_idx;
