-- llmlb.max_calls_in_window(p_model text, p_window interval, p_since timestamptz) RETURNS bigint
--
-- The largest number of calls p_model received in any window [t, t + p_window] that starts at
-- one of its calls sent since p_since: the proof, in SQL, of the rate each model really got.
-- Inputs: a model name (need not exist), a window length, the start of the period to examine.
-- Output: the count; 0 when the model has no calls in the period.
-- Locks: none (STABLE, reads llmlb.calls through calls_model_sent_at_idx).
-- Edge cases: sent_at is on the database clock when the request left the worker (claim time
--   plus the worker's send offset), so the figure is what the backend saw, within clock jitter.

CREATE OR REPLACE FUNCTION llmlb.max_calls_in_window(p_model text, p_window interval,
                                                     p_since timestamptz)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(max(n), 0) FROM (
    SELECT count(*) OVER (ORDER BY sent_at RANGE BETWEEN CURRENT ROW AND p_window FOLLOWING) AS n
    FROM llmlb.calls WHERE model = p_model AND sent_at >= p_since) w
$$;
