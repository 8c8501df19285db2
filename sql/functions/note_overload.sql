-- llmlb.note_overload(p_model text, p_ok integer, p_timeouts integer, p_overloaded integer,
--                     p_median_ms double precision, p_claimed_at timestamptz,
--                     p_timeout_ms double precision, p_latency_ratio double precision DEFAULT 2.5)
--   RETURNS TABLE (effective integer, configured integer, lowered boolean, reason text)
--
-- What a worker's last calls of one model said about the model's capacity (issue 16), and the
-- calls in flight it may have from now on: AIMD on concurrency, shared by every process.
-- Inputs: since the worker's last report, p_ok answers, p_timeouts calls that timed out and
--   p_overloaded calls answered 503 or 529; p_median_ms, the median latency of the answers and
--   the timed-out calls together (a timed-out call counts with its time to the timeout; NULL:
--   none); p_claimed_at, the latest claim time of the calls reported; p_timeout_ms, the
--   worker's request timeout (NULL: none); p_latency_ratio, how far above the model's baseline
--   the median may rise before it counts as overload (<= 0: never).
-- Signals ("hard"): at least 2 timeouts and no more answers than timeouts, or at least 2
--   503/529s making at least a tenth of the calls (one stray 503 is no signal). ("slow": calls
--   queue at the backend, and soon will time out) with at least 5 calls, a median above both
--   p_latency_ratio x latency_base_ms and a third of p_timeout_ms: a queue whose calls finish
--   far within the timeout costs nothing but latency, and a noisy median must not cut a model
--   that keeps up.
-- Decrease, on a hard signal, or a slow one from a call claimed after the last decrease
--   (inflight_cut_at; calls claimed before it were sent under the old limit, so one decrease
--   per round trip; timed-out calls are not excused so: their work still queues ahead): from
--   N = the calls in flight now (llmlb.live_leases) or the current limit, whichever is lower,
--   to N / 2 (hard) or N x baseline / median + sqrt(N) (slow: what the model serves without a
--   queue, by Little's law, plus a short queue so that it never idles), never below 1. A single timeout in the tail of many answers is no signal.
-- Increase: a report without a signal raises a learned limit by p_ok / limit (one call per
--   limit's worth of answers: about one per round trip); at max_inflight it is forgotten (NULL)
--   with its reason. Never above max_inflight.
-- Baseline (latency_base_ms): the model's median latency without a queue. The first report
--   sets it; then a report of at least 5 calls without a signal moves it 30% of the way down
--   to its median, or 0.5% of the way up (slowly: a queue that builds up must not become the
--   baseline); a slow median with at most 2 calls in flight becomes the new baseline (the model
--   got slower: nothing of ours queues).
-- Output: the model's effective max in flight, its configured max_inflight, whether this report
--   lowered it, and the reason stored (NULL when the limit is not lowered).
-- Locks: pg_advisory_xact_lock(72617, model id) (claim()'s lock, lock_model_quota()), and its
--   llmlb.quota row.
-- Edge cases: an unknown model returns no row. A model without a quota row gets one, with a full
--   bucket. A report of nothing (all counts 0) changes nothing.

CREATE OR REPLACE FUNCTION llmlb.note_overload(p_model text, p_ok integer, p_timeouts integer,
                                               p_overloaded integer,
                                               p_median_ms double precision,
                                               p_claimed_at timestamptz,
                                               p_timeout_ms double precision,
                                               p_latency_ratio double precision DEFAULT 2.5)
RETURNS TABLE (effective integer, configured integer, lowered boolean, reason text)
LANGUAGE plpgsql AS $$
DECLARE
  v_id integer;
  v_max integer;
  v_now timestamptz;
  v_inflight integer := NULL;
  v_n double precision;
  v_limit double precision;
  v_base double precision;
  v_ok integer := greatest(coalesce(p_ok, 0), 0);
  v_timeouts integer := greatest(coalesce(p_timeouts, 0), 0);
  v_overloaded integer := greatest(coalesce(p_overloaded, 0), 0);
  v_slow boolean;
  v_hard boolean;
  v_cut boolean := false;
  q llmlb.quota;
BEGIN
  q := llmlb.lock_model_quota(p_model);
  IF q.model_id IS NULL THEN
    RETURN;
  END IF;
  v_id := q.model_id;
  v_now := clock_timestamp();
  SELECT max_inflight INTO v_max FROM llmlb.models WHERE id = v_id;  -- under the lock
  v_limit := least(q.inflight_limit, v_max);
  v_base := q.latency_base_ms;
  v_hard := (v_timeouts >= 2 AND v_timeouts >= v_ok)
            OR (v_overloaded >= 2 AND 10 * v_overloaded >= v_ok + v_timeouts + v_overloaded);
  v_slow := coalesce(p_latency_ratio, 0) > 0 AND v_ok + v_timeouts >= 5 AND v_base > 0
            AND p_median_ms > p_latency_ratio * v_base
            AND p_median_ms > coalesce(p_timeout_ms, 0) / 3;
  IF v_hard OR v_slow THEN
    SELECT count(*) INTO v_inflight FROM llmlb.live_leases l WHERE l.model = p_model;
  END IF;
  IF v_hard OR (v_slow AND (q.inflight_cut_at IS NULL OR p_claimed_at IS NULL
                            OR p_claimed_at > q.inflight_cut_at)) THEN
    v_n := least(coalesce(v_limit, v_max), greatest(v_inflight, 1));
    v_limit := greatest(1.0, CASE WHEN v_hard THEN v_n * 0.5
                                  ELSE least(v_n * 0.9, v_n * v_base / p_median_ms + sqrt(v_n))
                             END);
    q.overload_reason := left(CASE
      WHEN v_overloaded > 0 AND v_timeouts > 0
        THEN format('%s timeouts and %s overloaded answers (503/529)', v_timeouts, v_overloaded)
      WHEN v_overloaded > 0 THEN format('%s overloaded answers (503/529)', v_overloaded)
      WHEN v_hard THEN format('%s of %s calls timed out', v_timeouts, v_ok + v_timeouts)
      ELSE format('median latency %s ms, over %s x its baseline of %s ms',
                  round(p_median_ms::numeric), p_latency_ratio, round(v_base::numeric))
      END, 300);
    q.overload_total := q.overload_total + 1;
    q.inflight_cut_at := v_now;
    v_cut := true;
  ELSIF NOT (v_hard OR v_slow) AND v_ok > 0 AND v_limit IS NOT NULL THEN
    v_limit := v_limit + v_ok::double precision / greatest(v_limit, 1.0);
    IF v_limit >= v_max THEN
      v_limit := NULL;
      q.overload_reason := NULL;
    END IF;
  END IF;
  IF v_ok > 0 AND p_median_ms >= 0 THEN
    v_base := CASE
      WHEN v_base IS NULL THEN p_median_ms
      WHEN v_slow AND v_inflight <= 2 THEN p_median_ms
      WHEN v_hard OR v_slow OR v_ok + v_timeouts < 5 THEN v_base
      WHEN p_median_ms < v_base THEN v_base + 0.3 * (p_median_ms - v_base)
      ELSE v_base + 0.005 * (p_median_ms - v_base) END;
  END IF;
  IF v_cut OR v_limit IS DISTINCT FROM q.inflight_limit
     OR v_base IS DISTINCT FROM q.latency_base_ms THEN
    UPDATE llmlb.quota SET inflight_limit = v_limit, inflight_cut_at = q.inflight_cut_at,
           overload_reason = q.overload_reason, overload_total = q.overload_total,
           latency_base_ms = v_base
     WHERE model_id = v_id;
  END IF;
  effective := llmlb.effective_max_inflight(v_max, v_limit);
  configured := v_max;
  lowered := v_cut;
  reason := CASE WHEN v_limit IS NULL THEN NULL ELSE q.overload_reason END;
  RETURN NEXT;
END $$;
