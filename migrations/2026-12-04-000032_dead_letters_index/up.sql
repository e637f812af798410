-- /metrics counts dead letters on every scrape; sent messages accumulate for years, dead ones stay few.
CREATE INDEX outbox_messages_dead_idx ON outbox_messages (id) WHERE status = 'dead';
