-- llmlb.settle_tokens(p_model_id integer, p_delta double precision, p_samples integer[])
--   RETURNS void
--
-- Issue 17. Settles token reservations of one model (complete() calls it once per model with
-- settled calls): returns p_delta tokens (reserved less actual; negative: the calls took more
-- than was reserved) to the model's token bucket, and learns the model's completion sizes.
-- Inputs: the model's id; p_delta, the sum of reserved_tokens - settled_tokens of the calls
--   settled; p_samples, the completion tokens of its answered calls, in order (NULL or empty:
--   none).
-- Locks: pg_advisory_xact_lock(72617, p_model_id), the lock claim() takes for the model, held
--   to the end of the caller's transaction; the model's llmlb.quota row.
-- Guarantees: the bucket is first refilled to now on the database clock (as claim_tokens()
--   does), then p_delta is added, and the level is capped at tpm_capacity(): returned tokens
--   never raise the bucket above its capacity, and tokens taken beyond a reservation are a debt
--   the bucket repays before granting more. The output estimate (quota.out_estimate) follows
--   each sample x: it starts at the first sample, jumps up to x when x is above it, and otherwise
--   decays by 1/100 of the gap (a decaying high percentile: for a steady, even spread of sizes it
--   settles near their 90th percentile; after a shift to shorter answers it halves the gap in
--   about 70 calls).
--   Tokens returned while the bucket is full are lost to the cap, as refills are; see
--   docs/operations.md "Token budgets" for what that means for the window bound.
-- Edge cases: a model without tpm (cleared since the claim) or without a quota row keeps no
--   token level; its estimate is still learned when the row exists. A deleted model: nothing.

CREATE OR REPLACE FUNCTION llmlb.settle_tokens(p_model_id integer, p_delta double precision,
                                               p_samples integer[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz;
  v_tpm double precision;
  v_cap double precision;
  v_level double precision;
  v_refilled timestamptz;
  v_out double precision;
  x integer;
BEGIN
  PERFORM pg_advisory_xact_lock(72617, p_model_id);
  v_now := clock_timestamp();
  SELECT mo.tpm, llmlb.tpm_capacity(mo.tpm, mo.tpm_burst), q.tpm_level, q.tpm_refilled_at,
         q.out_estimate
    INTO v_tpm, v_cap, v_level, v_refilled, v_out
    FROM llmlb.models mo JOIN llmlb.quota q ON q.model_id = mo.id
   WHERE mo.id = p_model_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_tpm IS NOT NULL AND coalesce(p_delta, 0) <> 0 THEN
    v_level := least(v_cap, least(v_cap, coalesce(v_level + greatest(0, extract(epoch FROM
                                                    v_now - v_refilled)) * v_tpm / 60.0, v_cap))
                            + p_delta);
    v_refilled := v_now;
  END IF;
  FOREACH x IN ARRAY coalesce(p_samples, '{}') LOOP
    v_out := CASE WHEN v_out IS NULL OR x > v_out THEN x ELSE v_out - (v_out - x) / 100.0 END;
  END LOOP;
  UPDATE llmlb.quota SET tpm_level = v_level, tpm_refilled_at = v_refilled, out_estimate = v_out
   WHERE model_id = p_model_id;
END $$;
