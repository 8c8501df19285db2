-- llmlb.complete(p_worker text, p_results json, p_max_attempts integer)
--   RETURNS TABLE (solved, failed, retried, released, lost integer)
--
-- Records the outcome of calls and releases tasks, in one statement.
-- Inputs: p_results, a JSON array of objects
--     {id, token, model, outcome: ok|transient|permanent|release, answer, error, error_class,
--      http_status, endpoint, claimed_at, send_offset_ms, latency_ms, retry_seconds, sent}
--   p_worker, written to the call log; p_max_attempts, the calls a task may take.
-- Output: one row counting the tasks it solved, failed, scheduled for retry and released, and
--   the results whose lease was lost (not written).
-- Locks: row locks on the tasks it updates (waits for a transaction holding one).
-- Guarantees: every task write is guarded by (id, lease token): a worker whose lease expired and
--   was re-claimed changes nothing, and its result is logged as 'lost_lease'. Each written task
--   loses its lease. 'ok' solves (answer, answered_by, solved_at); 'permanent' fails with
--   last_error; 'transient' schedules a retry after retry_seconds (>= 0), or fails the task
--   once it has reached p_max_attempts calls; 'release' hands the task back without counting an
--   attempt. Every result with sent = true (the default) gets one row in llmlb.calls, whose
--   sent_at is claimed_at + send_offset_ms (or finished time less latency) on the database clock.
-- Edge cases: an empty array writes nothing and returns zeros. Unknown ids count as lost.

CREATE OR REPLACE FUNCTION llmlb.complete(p_worker text, p_results json, p_max_attempts integer)
RETURNS TABLE (solved integer, failed integer, retried integer, released integer, lost integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
BEGIN
  RETURN QUERY
  WITH r AS (
    SELECT * FROM json_to_recordset(p_results) AS x(
      id bigint, token bigint, model text, outcome text, answer text, error text,
      error_class text, http_status integer, endpoint text, claimed_at timestamptz,
      send_offset_ms double precision, latency_ms double precision,
      retry_seconds double precision, sent boolean)),
  upd AS (
    UPDATE public.tasks t SET
      status = CASE
        WHEN r.outcome = 'ok' THEN 'solved'
        WHEN r.outcome = 'permanent' THEN 'failed'
        WHEN r.outcome = 'transient' AND t.attempts + 1 >= p_max_attempts THEN 'failed'
        ELSE 'unsolved' END,
      answer = CASE WHEN r.outcome = 'ok' THEN r.answer ELSE t.answer END,
      answered_by = CASE WHEN r.outcome = 'ok' THEN r.model ELSE t.answered_by END,
      solved_at = CASE WHEN r.outcome = 'ok' THEN v_now ELSE t.solved_at END,
      attempts = t.attempts + CASE WHEN r.outcome = 'release' THEN 0 ELSE 1 END,
      last_error = CASE
        WHEN r.outcome = 'transient' AND t.attempts + 1 >= p_max_attempts
          THEN format('gave up after %s attempts: %s', t.attempts + 1, r.error)
        WHEN r.outcome IN ('transient', 'permanent') THEN r.error
        ELSE t.last_error END,
      retry_at = CASE
        WHEN r.outcome = 'transient' AND t.attempts + 1 < p_max_attempts
          THEN v_now + greatest(coalesce(r.retry_seconds, 0), 0) * interval '1 second'
        ELSE NULL END,
      lease_owner = NULL, lease_token = NULL, lease_model = NULL, lease_expires_at = NULL,
      leased_at = NULL
    FROM r
    WHERE t.id = r.id AND t.lease_token = r.token
    RETURNING t.id, t.status, r.outcome),
  logged AS (
    INSERT INTO llmlb.calls (model, task_id, worker, endpoint, sent_at, finished_at, latency_ms,
                             outcome, error_class, http_status)
    SELECT r.model, r.id, p_worker, coalesce(r.endpoint, 'single'),
           coalesce(r.claimed_at + coalesce(r.send_offset_ms, 0) * interval '1 millisecond',
                    v_now - coalesce(r.latency_ms, 0) * interval '1 millisecond'),
           v_now, r.latency_ms,
           CASE WHEN r.outcome = 'release' THEN 'abandoned'
                WHEN NOT EXISTS (SELECT 1 FROM upd WHERE upd.id = r.id) THEN 'lost_lease'
                ELSE r.outcome END,
           r.error_class, r.http_status
      FROM r WHERE coalesce(r.sent, true)
    RETURNING 1)
  SELECT (count(*) FILTER (WHERE upd.status = 'solved'))::integer,
         (count(*) FILTER (WHERE upd.status = 'failed'))::integer,
         (count(*) FILTER (WHERE upd.status = 'unsolved' AND upd.outcome = 'transient'))::integer,
         (count(*) FILTER (WHERE upd.outcome = 'release'))::integer,
         ((SELECT count(*) FROM r) - count(*))::integer
    FROM upd;
END $$;
