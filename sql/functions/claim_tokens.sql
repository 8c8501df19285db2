-- llmlb.claim_tokens(p_model_id integer, p_model text, p_worker text, p_grant integer,
--                    p_share integer, p_token bigint, p_now timestamptz,
--                    p_lease_seconds double precision, p_endpoint text)
--   RETURNS TABLE (task_id bigint, prompt text, attempts integer, is_pinned boolean,
--                  token_wait double precision)
--
-- Issue 17. claim()'s task pick for a model with a token budget (llmlb.models.tpm set): picks
-- up to p_grant tasks, in claim()'s order, whose estimated tokens fit the model's token bucket,
-- leases them and records their calls with the tokens reserved. Only claim() calls it, for one
-- model, after it granted p_grant requests (tokens of the request bucket, free slots).
-- Inputs: the model (id, name); p_worker, p_token, p_now, p_lease_seconds, p_endpoint as in
--   claim(); p_share, the most pinned tasks this model may take in this claim.
-- Output: one row per claimed task (token_wait NULL), then always one row with task_id NULL
--   whose token_wait is the seconds until the first task that did not fit would fit (NULL when
--   every candidate fitted).
-- Locks: the caller holds pg_advisory_xact_lock(72617, p_model_id); row locks FOR UPDATE SKIP
--   LOCKED on the candidate tasks (those not granted stay locked to the end of the claim's
--   transaction, so a later model of the same claim may still take an unpinned one); the
--   model's llmlb.quota row (created if missing; claim() then writes its request bucket).
-- Guarantees:
--   - The bucket refills at tpm / 60 tokens per second on the database clock (p_now), up to
--     tpm_capacity(); a NULL level (no reservation yet, or tpm just set) is a full bucket.
--   - A task's estimate: its prompt, estimate_tokens(octet_length, bytes_per_token, 1), plus its
--     completion: tasks.max_tokens if set, else quota.out_estimate rounded up (a decaying high
--     percentile of the model's completions, see settle_tokens()), else 256 while nothing has
--     been learned. It is reserved (the level drops by it) and written to the call's
--     reserved_tokens; settle_tokens() later gives back or takes the difference to the actual.
--   - A task is granted while the level covers its estimate, or, when its estimate exceeds
--     the whole bucket, only while the bucket is full: it is then served alone and the level goes
--     negative, so it is never stuck forever.
--   - Fit, not starve: tasks are walked in claim order; one that does not fit is passed over
--     and smaller ones behind it may still be granted. The first task passed over is recorded
--     (quota.tpm_hold_task, tpm_hold_since); once that same task has been passed over for
--     tpm_capacity / rate seconds (the time to fill an empty bucket), nothing behind it is
--     granted until it fits, so the bucket fills for it within about twice that time.
-- Edge cases: the caller reads tpm under the same lock and calls only when it is set. Tasks are
--   read through claim()'s partial indexes and updated by primary key (id = ANY (array)).

CREATE OR REPLACE FUNCTION llmlb.claim_tokens(p_model_id integer, p_model text, p_worker text,
                                              p_grant integer, p_share integer, p_token bigint,
                                              p_now timestamptz, p_lease_seconds double precision,
                                              p_endpoint text)
RETURNS TABLE (task_id bigint, prompt text, attempts integer, is_pinned boolean,
               token_wait double precision)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  k record;
  v_tpm double precision;
  v_burst integer;
  v_bpt double precision;
  v_level double precision;
  v_refilled timestamptz;
  v_out double precision;
  v_hold bigint;
  v_hold_since timestamptz;
  v_rate double precision;
  v_cap double precision;
  v_est integer;
  v_need double precision;
  v_ids bigint[] := '{}';
  v_res integer[] := '{}';
  v_first bigint;
  v_wait double precision;
BEGIN
  SELECT mo.tpm, mo.tpm_burst, mo.bytes_per_token, q.tpm_level, q.tpm_refilled_at,
         q.out_estimate, q.tpm_hold_task, q.tpm_hold_since
    INTO v_tpm, v_burst, v_bpt, v_level, v_refilled, v_out, v_hold, v_hold_since
    FROM llmlb.models mo LEFT JOIN llmlb.quota q ON q.model_id = mo.id
   WHERE mo.id = p_model_id;
  v_rate := v_tpm / 60.0;
  v_cap := llmlb.tpm_capacity(v_tpm, v_burst);
  v_level := least(v_cap, coalesce(v_level + greatest(0, extract(epoch FROM p_now - v_refilled))
                                             * v_rate, v_cap));
  FOR k IN
    WITH pinned AS (
      SELECT t.id, t.priority, t.created_at, octet_length(t.prompt) AS bytes, t.max_tokens
        FROM public.tasks t
      WHERE t.status = 'unsolved' AND t.lease_token IS NULL AND t.retry_at IS NULL
        AND t.model = p_model
      ORDER BY t.priority DESC, t.created_at, t.id
      LIMIT least(p_grant, p_share) FOR UPDATE SKIP LOCKED),
    unpinned AS (
      SELECT t.id, t.priority, t.created_at, octet_length(t.prompt) AS bytes, t.max_tokens
        FROM public.tasks t
      WHERE t.status = 'unsolved' AND t.lease_token IS NULL AND t.retry_at IS NULL
        AND t.model IS NULL
      ORDER BY t.priority DESC, t.created_at, t.id
      LIMIT p_grant FOR UPDATE SKIP LOCKED)
    -- In claim order; at most p_grant candidates.
    SELECT x.id, x.bytes, x.max_tokens
      FROM (SELECT * FROM pinned UNION ALL SELECT * FROM unpinned) x
     ORDER BY x.priority DESC, x.created_at, x.id
     LIMIT p_grant
  LOOP
    v_est := llmlb.estimate_tokens(k.bytes, v_bpt, 1)
             + coalesce(k.max_tokens, ceil(coalesce(v_out, 256))::integer);
    v_need := least(v_est, v_cap);
    IF v_level >= v_need THEN
      v_ids := v_ids || k.id;
      v_res := v_res || v_est;
      v_level := v_level - v_est;
      CONTINUE;
    END IF;
    v_wait := coalesce(v_wait, (v_need - v_level) / v_rate);
    IF v_first IS NULL THEN
      v_first := k.id;
      IF k.id = v_hold AND p_now - v_hold_since >= (v_cap / v_rate) * interval '1 second' THEN
        EXIT;  -- it has waited long enough: the bucket is held for it
      END IF;
    END IF;
  END LOOP;
  IF cardinality(v_ids) > 0 THEN
    RETURN QUERY
    WITH upd AS (
      UPDATE public.tasks t
         SET lease_owner = p_worker, lease_token = p_token, lease_model = p_model,
             leased_at = p_now, lease_expires_at = p_now + p_lease_seconds * interval '1 second'
       WHERE t.id = ANY (v_ids)
      RETURNING t.id, t.prompt, t.attempts, t.model IS NOT NULL AS pinned),
    logged AS (
      INSERT INTO llmlb.calls (model, task_id, worker, endpoint, sent_at, outcome, lease_token,
                               prompt_md5, reserved_tokens)
      SELECT p_model, upd.id, p_worker, coalesce(p_endpoint, 'single'), p_now, 'sent', p_token,
             md5(upd.prompt), g.res
        FROM upd JOIN unnest(v_ids, v_res) AS g(id, res) ON g.id = upd.id)
    SELECT upd.id, upd.prompt, upd.attempts, upd.pinned, NULL::double precision FROM upd;
  END IF;
  INSERT INTO llmlb.quota AS q (model_id, tokens, refilled_at, factor_at, tpm_level,
                                tpm_refilled_at, tpm_hold_task, tpm_hold_since)
    VALUES (p_model_id, 0, p_now, p_now, v_level, p_now, v_first,
            CASE WHEN v_first IS NULL THEN NULL
                 WHEN v_first = v_hold THEN v_hold_since ELSE p_now END)
    ON CONFLICT (model_id) DO UPDATE SET tpm_level = excluded.tpm_level,
                                         tpm_refilled_at = excluded.tpm_refilled_at,
                                         tpm_hold_task = excluded.tpm_hold_task,
                                         tpm_hold_since = excluded.tpm_hold_since;
  task_id := NULL; prompt := NULL; attempts := NULL; is_pinned := NULL; token_wait := v_wait;
  RETURN NEXT;
END $$;
