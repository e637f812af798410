-- Sign-in throttling becomes a timed back-off only: no failure count locks an account any more
-- (anyone could lock anyone's account, an admin's included, by guessing at it). Keys are the
-- account, the address, and the pair of both, each with its own free failures; the delay after
-- them is this one function, which the throttle checks and counts with in one statement.
CREATE FUNCTION sign_in_delay(failures INTEGER, free INTEGER) RETURNS INTERVAL
    LANGUAGE sql IMMUTABLE
    AS $$
        SELECT CASE WHEN failures < free THEN interval '0'
                    ELSE least(interval '30 seconds' * (2 ^ least(failures - free, 10)), interval '15 minutes')
               END
    $$;

ALTER TABLE sign_in_failures DROP CONSTRAINT sign_in_failures_key_check;
ALTER TABLE sign_in_failures ADD CONSTRAINT sign_in_failures_key_check CHECK (key ~ '^(account|address|pair):');
-- Whether the latest attempt on the key was let through (and counted) or refused by the back-off:
-- the one statement that decides also reports it.
ALTER TABLE sign_in_failures ADD COLUMN last_attempt_counted BOOLEAN NOT NULL DEFAULT TRUE;

ALTER TABLE users DROP COLUMN locked_at;
