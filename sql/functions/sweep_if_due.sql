-- llmlb.sweep_if_due() RETURNS integer
--
-- Runs llmlb.sweep() unless some process did so in the last 250 ms or is doing so now.
-- Output: the rows sweep() changed, or 0 when no sweep was due.
-- Locks: the single llmlb.sweep_state row, FOR UPDATE SKIP LOCKED (so concurrent callers never
--   wait: one sweeps, the others return 0), then sweep()'s row locks.
-- Guarantees: among all processes at most one sweep per 250 ms (per committed sweep_state
--   update), so expired leases come back within about a quarter second of the next claim.
-- Callers: claim() when p_sweep; a new worker calls it itself once its first requests are sent.

CREATE OR REPLACE FUNCTION llmlb.sweep_if_due() RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  PERFORM 1 FROM llmlb.sweep_state
    WHERE last_at < clock_timestamp() - interval '250 milliseconds' FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  UPDATE llmlb.sweep_state SET last_at = clock_timestamp();
  RETURN llmlb.sweep();
END $$;
