-- llmlb.lock_model_quota(p_model text) RETURNS llmlb.quota
--
-- The start of every report that changes a model's quota state outside claim()
-- (note_rate_limited(), note_overload()): takes the model's lock and returns its quota row,
-- creating it first if the model has none.
-- Inputs: the model's name.
-- Output: the model's llmlb.quota row as it is under the lock; a row of NULLs (model_id NULL)
--   when no such model exists (nothing is locked or written then).
-- Locks: pg_advisory_xact_lock(72617, model id), the lock claim() takes for the model, held to
--   the end of the caller's transaction.
-- Guarantees: a new row has a full bucket (tokens = burst, refilled now), as claim() treats a
--   model without one, rate_factor 1, and no cooldown; an existing row is not changed.

CREATE OR REPLACE FUNCTION llmlb.lock_model_quota(p_model text)
RETURNS llmlb.quota LANGUAGE plpgsql AS $$
DECLARE
  v_id integer;
  v_now timestamptz;
  q llmlb.quota;
BEGIN
  SELECT id INTO v_id FROM llmlb.models WHERE name = p_model;
  IF v_id IS NULL THEN
    RETURN q;
  END IF;
  PERFORM pg_advisory_xact_lock(72617, v_id);
  v_now := clock_timestamp();
  INSERT INTO llmlb.quota (model_id, tokens, refilled_at, factor_at)
    SELECT v_id, mo.burst, v_now, v_now FROM llmlb.models mo WHERE mo.id = v_id
    ON CONFLICT (model_id) DO NOTHING;
  SELECT * INTO q FROM llmlb.quota WHERE model_id = v_id;
  RETURN q;
END $$;
