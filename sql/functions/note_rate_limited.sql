-- llmlb.note_rate_limited(p_model text, p_retry_after double precision, p_count integer)
--   RETURNS void
--
-- A model answered 429: start (or extend) its shared cooldown and halve its effective rate,
-- which then recovers linearly (effective_factor()). The configured limit is never changed.
-- Inputs: the model's name; the backend's Retry-After in seconds (NULL or NaN: 1 s; at least
--   0.05 s; at most 3600 s, whatever the worker passed: a Retry-After of 999999999 must not
--   block the model for years; workers cut it to --max-retry-after first);
--   how many 429s this report covers (counted into rate_limited_total, at least 1).
-- Locks: pg_advisory_xact_lock(72617, model id), the same lock claim() takes for the model, held
--   to the end of the caller's transaction (lock_model_quota()); the model's llmlb.quota row.
-- Guarantees: cooldown_until only moves later, except that one more than an hour away (set by
--   an older llmlb) is brought back to an hour from now; the bucket is emptied (tokens <= 0),
--   so claim() grants nothing for the model until the cooldown ends; rate_factor never drops
--   below 0.05.
-- Edge cases: an unknown model is ignored. A model without a quota row gets one.

CREATE OR REPLACE FUNCTION llmlb.note_rate_limited(p_model text, p_retry_after double precision,
                                                   p_count integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz;
  q llmlb.quota := llmlb.lock_model_quota(p_model);
BEGIN
  IF q.model_id IS NULL THEN
    RETURN;
  END IF;
  v_now := clock_timestamp();
  UPDATE llmlb.quota SET
    cooldown_until = greatest(least(coalesce(cooldown_until, v_now), v_now + interval '1 hour'),
                              v_now + least(greatest(coalesce(nullif(p_retry_after, 'NaN'), 1),
                                                     0.05), 3600) * interval '1 second'),
    rate_factor = greatest(0.05, llmlb.effective_factor(q, v_now) * 0.5),
    factor_at = v_now,
    tokens = least(tokens, 0),
    refilled_at = v_now,
    rate_limited_total = rate_limited_total + greatest(p_count, 1)
  WHERE model_id = q.model_id;
END $$;
