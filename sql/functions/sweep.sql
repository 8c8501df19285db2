-- llmlb.sweep() RETURNS integer
--
-- Returns expired leases (lease_expires_at passed: the holder died or lost the database) and due
-- retries (retry_at passed) to the claimable pool.
-- Inputs: none; "now" is clock_timestamp() read once at the start.
-- Output: how many task rows it changed (expired leases plus due retries).
-- Locks: row locks, FOR UPDATE SKIP LOCKED, on at most 1,000 expired leases and 1,000 due
--   retries; rows another transaction holds are skipped, so it never waits for them.
-- Guarantees: an expired lease is cleared whole (owner, token, model, expiry, leased_at) and the
--   task's attempts are untouched, so a dead worker costs the task nothing; the old holder's
--   later writes are refused by its lease token (complete(), renew()). The lease's call, still
--   open in llmlb.calls (outcome 'sent'), becomes 'unknown' with finished_at set: the request
--   may have reached the backend, and its outcome was never recorded (a late result of its
--   worker still fills it in, as 'lost_lease'). Issue 17: such a call's token reservation is
--   settled as consumed (settled_tokens = reserved_tokens: what the backend did with it is
--   unknown), which leaves the model's token bucket as it is; the late result does not settle
--   it again.
-- Edge cases: beyond 1,000 of either kind the rest wait for the next call. Rows are found through
--   the lease-expiry and retry partial indexes and updated by primary key (id = ANY (ARRAY(...))),
--   so neither UPDATE reads the whole table under the generic plan (plan_cache_mode).
-- Callers: sweep_if_due(); operators may call it by hand.

CREATE OR REPLACE FUNCTION llmlb.sweep() RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_expired integer;
  v_due integer;
  v_ids bigint[];
  v_tokens bigint[];
BEGIN
  SELECT coalesce(array_agg(c.id), '{}'), coalesce(array_agg(c.lease_token), '{}')
    INTO v_ids, v_tokens
    FROM (SELECT id, lease_token FROM public.tasks
          WHERE lease_token IS NOT NULL AND lease_expires_at < v_now
          ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED) c;
  UPDATE public.tasks t
     SET lease_owner = NULL, lease_token = NULL, lease_model = NULL, lease_expires_at = NULL,
      leased_at = NULL
   WHERE t.id = ANY (v_ids);
  GET DIAGNOSTICS v_expired = ROW_COUNT;
  IF v_expired > 0 THEN
    -- Through calls_open_idx (its predicate is implied by outcome = 'sent').
    UPDATE llmlb.calls k SET outcome = 'unknown', finished_at = v_now,
                             settled_tokens = k.reserved_tokens  -- issue 17
      FROM unnest(v_ids, v_tokens) AS e(id, token)
     WHERE k.task_id = e.id AND k.lease_token = e.token AND k.outcome = 'sent';
  END IF;
  WITH c AS (
    SELECT id FROM public.tasks
    WHERE retry_at IS NOT NULL AND retry_at <= v_now
    ORDER BY retry_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
  UPDATE public.tasks t SET retry_at = NULL WHERE t.id = ANY (ARRAY(SELECT c.id FROM c));
  GET DIAGNOSTICS v_due = ROW_COUNT;
  RETURN v_expired + v_due;
END $$;
