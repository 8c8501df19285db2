-- llmlb.note_unreachable(p_error text) RETURNS double precision
--
-- The Models Backend could not be reached at all (connection refused, DNS, connect timeout):
-- the whole backend backs off, for every worker, through the one row of llmlb.backend_state.
-- note_unreachable: starts or extends the outage. While unreachable_until is in the future,
--   claim() grants nothing. A report that arrives while a backoff still runs only updates
--   last_error (the in-flight calls of an outage all fail at once); a report after it ended
--   (the first claim after the backoff failed again) doubles the backoff: 0.5 s, 1 s, 2 s, ...
--   capped at 10 s. Returns the seconds left until unreachable_until.
-- Locks: the row of llmlb.backend_state.
-- Edge cases: p_error NULL or empty is stored as 'unreachable'.

CREATE OR REPLACE FUNCTION llmlb.note_unreachable(p_error text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_until timestamptz;
BEGIN
  INSERT INTO llmlb.backend_state (id) VALUES (true) ON CONFLICT DO NOTHING;
  UPDATE llmlb.backend_state b SET
    unreachable_since = coalesce(b.unreachable_since, v_now),
    failures = CASE WHEN b.unreachable_until > v_now THEN b.failures ELSE b.failures + 1 END,
    unreachable_until = CASE WHEN b.unreachable_until > v_now THEN b.unreachable_until
      ELSE v_now + least(10.0, 0.5 * power(2, least(b.failures, 10))) * interval '1 second' END,
    last_error = left(coalesce(nullif(p_error, ''), 'unreachable'), 300)
  WHERE b.id
  RETURNING b.unreachable_until INTO v_until;
  RETURN greatest(0, extract(epoch FROM v_until - v_now))::double precision;
END $$;
