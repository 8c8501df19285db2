-- llmlb.effective_factor(q llmlb.quota, p_now timestamptz) RETURNS double precision
--
-- The share of its configured rate a model may use at p_now, after 429 answers lowered it.
-- Inputs: the model's quota row q (rate_factor, factor_at) and the time to evaluate at.
-- Output: rate_factor recovered linearly by 1/30 per second since factor_at, capped at 1; so a
--   factor of 0.5 is back to 1 after 15 s. A p_now earlier than factor_at counts as no time.
-- Locks: none (IMMUTABLE, reads only its arguments).
-- Edge cases: a NULL q (a model without a quota row yet) gives NULL; callers coalesce it to 1.

CREATE OR REPLACE FUNCTION llmlb.effective_factor(q llmlb.quota, p_now timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
  SELECT least(1.0, q.rate_factor + greatest(0, extract(epoch FROM p_now - q.factor_at)) / 30.0)
$$;
