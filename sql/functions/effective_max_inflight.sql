-- llmlb.effective_max_inflight(p_max_inflight integer, p_learned double precision)
--   RETURNS integer
--
-- The calls in flight a model may have now (issue 16): its configured max_inflight, or the
-- lower limit overload protection learned (llmlb.quota.inflight_limit, see note_overload()),
-- rounded down. The one definition that claim(), note_overload() and the model rows (status,
-- report, progress) share.
-- Inputs: the model's max_inflight; the learned limit (NULL: nothing learned).
-- Output: least(p_max_inflight, floor(p_learned)); p_max_inflight when p_learned is NULL; NULL
--   when p_max_inflight is NULL (an unconfigured model).
-- Locks: none (IMMUTABLE, reads only its arguments).

CREATE OR REPLACE FUNCTION llmlb.effective_max_inflight(p_max_inflight integer,
                                                        p_learned double precision)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_max_inflight IS NOT NULL
              THEN least(p_max_inflight, floor(p_learned)::integer) END
$$;
