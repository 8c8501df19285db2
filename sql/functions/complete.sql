-- llmlb.complete(p_worker text, p_results json, p_max_attempts integer)
--   RETURNS TABLE (solved, failed, retried, released, lost, superseded integer)
--
-- Records the outcome of calls and releases tasks, in one statement.
-- Inputs: p_results, a JSON array of objects
--     {id, token, model, outcome: ok|transient|permanent|release, answer, error, error_class,
--      http_status, endpoint, claimed_at, send_offset_ms, latency_ms, retry_seconds, sent,
--      prompt_bytes, answer_bytes, prompt_tokens, completion_tokens}
--   (issue 17: the sizes of the prompt sent and of the answer, and the usage the backend
--   reported, if any)
--   p_worker, written to the call log; p_max_attempts, the calls a task may take.
-- Output: one row counting the tasks it solved, failed, scheduled for retry and released, the
--   results whose lease was lost (not written), and the results superseded (not written: the
--   task changed since its claim).
-- Locks: row locks on the tasks it writes (FOR UPDATE, waits for a transaction holding one),
--   and on their llmlb.calls rows.
-- Guarantees (fencing): a result is written only to the task it was claimed as: the same lease
--   token (a worker whose lease expired and was re-claimed changes nothing: 'lost_lease'), the
--   task still 'unsolved', and its prompt unchanged since the claim (md5 recorded by claim()).
--   A task that changed under its lease ('superseded': prompt edited, or set solved or failed by
--   hand) keeps what it has; it only loses the lease, attempts unchanged, so an edited prompt is
--   claimed and answered again. Each written task loses its lease. 'ok' solves (answer,
--   answered_by, solved_at); 'permanent' fails with last_error; 'transient' schedules a retry
--   after retry_seconds (>= 0), or fails the task once it has reached p_max_attempts calls;
--   'release' hands the task back without counting an attempt.
--   The call log: the row claim() opened for (id, token) gets finished_at, latency, the outcome
--   ('abandoned' for release, 'lost_lease', 'superseded', or the result's outcome), error_class,
--   http_status, endpoint, and sent_at = claimed_at + send_offset_ms (database clock). A result
--   with sent = false (never sent: a prompt that could not be encoded) deletes that row: it was
--   no call. A sent result without an open row (claimed by an older release) gets a new row.
--   Issue 17, token budgets: the call's prompt_tokens and completion_tokens are what the backend
--   reported. A call that reserved tokens (claim_tokens()) and is not settled yet is settled:
--   for an answer, or any result with usage, the usage reported, missing parts estimated from
--   the sizes (estimate_tokens() with the model's bytes_per_token; an error's missing
--   completion counts 0); an HTTP error without usage: 0 (the backend refused it); a call that
--   never reached the backend (sent = false): 0; a call without an HTTP response (timeout,
--   reset, abandoned): unknown, so the reservation is kept as consumed. settled_tokens is
--   written, and settle_tokens() returns reserved - settled to each model's bucket and learns
--   its completion sizes from the answers, taking each model's lock once, in model id order,
--   after the results are written. Calls of models without tpm take no lock and no extra
--   statement.
-- Edge cases: an empty array writes nothing and returns zeros. Unknown ids count as lost.

-- The result type gained "superseded" in 005_calls_on_record.sql.
DROP FUNCTION IF EXISTS llmlb.complete(text, json, integer);

CREATE OR REPLACE FUNCTION llmlb.complete(p_worker text, p_results json, p_max_attempts integer)
RETURNS TABLE (solved integer, failed integer, retried integer, released integer, lost integer,
               superseded integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_settle json;  -- issue 17: per model, the tokens to settle
  s record;
BEGIN
  WITH x AS (
    SELECT x.*, c.id AS call_id, c.prompt_md5, c.reserved_tokens,
           c.settled_tokens AS prior_settled,
           -- Issue 17: the model's bytes per token, only for calls that reserved tokens.
           CASE WHEN c.reserved_tokens IS NOT NULL
                THEN (SELECT mo.bytes_per_token FROM llmlb.models mo WHERE mo.name = x.model)
           END AS bpt
      FROM json_to_recordset(p_results) AS x(
        id bigint, token bigint, model text, outcome text, answer text, error text,
        error_class text, http_status integer, endpoint text, claimed_at timestamptz,
        send_offset_ms double precision, latency_ms double precision,
        retry_seconds double precision, sent boolean, prompt_bytes bigint, answer_bytes bigint,
        prompt_tokens integer, completion_tokens integer)
      LEFT JOIN llmlb.calls c ON c.task_id = x.id AND c.lease_token = x.token
                             AND c.outcome IN ('sent', 'unknown')),
  r AS (
    -- Issue 17: usage of the call, reported or (for calls that reserved tokens) estimated.
    SELECT x.*,
           CASE WHEN x.bpt IS NULL OR x.prompt_tokens IS NOT NULL THEN x.prompt_tokens
                WHEN x.outcome = 'ok' OR x.completion_tokens IS NOT NULL
                  THEN llmlb.estimate_tokens(x.prompt_bytes, x.bpt, 1) END AS p_tok,
           CASE WHEN x.bpt IS NULL OR x.completion_tokens IS NOT NULL THEN x.completion_tokens
                WHEN x.outcome = 'ok' THEN llmlb.estimate_tokens(x.answer_bytes, x.bpt)
                WHEN x.prompt_tokens IS NOT NULL THEN 0 END AS c_tok
      FROM x),
  -- The tasks still under the results' leases, locked first, and whether each is still the
  -- task that was claimed (read from the locked, newest row version).
  cur AS (
    SELECT t.id, r.token,
           t.status = 'unsolved' AND (r.prompt_md5 IS NULL OR md5(t.prompt) = r.prompt_md5)
             AS is_current
      FROM r JOIN public.tasks t ON t.id = r.id AND t.lease_token = r.token
       FOR UPDATE OF t),
  upd AS (
    UPDATE public.tasks t SET
      status = CASE
        WHEN NOT cur.is_current THEN t.status
        WHEN r.outcome = 'ok' THEN 'solved'
        WHEN r.outcome = 'permanent' THEN 'failed'
        WHEN r.outcome = 'transient' AND t.attempts + 1 >= p_max_attempts THEN 'failed'
        ELSE 'unsolved' END,
      answer = CASE WHEN cur.is_current AND r.outcome = 'ok' THEN r.answer ELSE t.answer END,
      answered_by = CASE WHEN cur.is_current AND r.outcome = 'ok' THEN r.model ELSE t.answered_by END,
      solved_at = CASE WHEN cur.is_current AND r.outcome = 'ok' THEN v_now ELSE t.solved_at END,
      attempts = t.attempts
                 + CASE WHEN NOT cur.is_current OR r.outcome = 'release' THEN 0 ELSE 1 END,
      last_error = CASE
        WHEN NOT cur.is_current THEN t.last_error
        WHEN r.outcome = 'transient' AND t.attempts + 1 >= p_max_attempts
          THEN format('gave up after %s attempts: %s', t.attempts + 1, r.error)
        WHEN r.outcome IN ('transient', 'permanent') THEN r.error
        ELSE t.last_error END,
      retry_at = CASE
        WHEN cur.is_current AND r.outcome = 'transient' AND t.attempts + 1 < p_max_attempts
          THEN v_now + greatest(coalesce(r.retry_seconds, 0), 0) * interval '1 second'
        ELSE NULL END,
      lease_owner = NULL, lease_token = NULL, lease_model = NULL, lease_expires_at = NULL,
      leased_at = NULL
    FROM r JOIN cur ON cur.id = r.id AND cur.token = r.token
    WHERE t.id = r.id AND t.lease_token = r.token
    RETURNING t.id, r.token, t.status, r.outcome, cur.is_current),
  done AS (
    UPDATE llmlb.calls c SET
      finished_at = v_now,
      latency_ms = r.latency_ms,
      sent_at = coalesce(r.claimed_at + coalesce(r.send_offset_ms, 0) * interval '1 millisecond',
                         c.sent_at),
      endpoint = coalesce(r.endpoint, c.endpoint),
      outcome = CASE WHEN r.outcome = 'release' THEN 'abandoned'
                     WHEN u.id IS NULL THEN 'lost_lease'
                     WHEN NOT u.is_current THEN 'superseded'
                     ELSE r.outcome END,
      error_class = r.error_class,
      http_status = r.http_status,
      prompt_tokens = r.p_tok,
      completion_tokens = r.c_tok,
      settled_tokens = CASE
        WHEN r.reserved_tokens IS NULL OR r.prior_settled IS NOT NULL THEN c.settled_tokens
        WHEN r.p_tok IS NOT NULL OR r.c_tok IS NOT NULL
          THEN coalesce(r.p_tok, 0) + coalesce(r.c_tok, 0)
        WHEN coalesce(r.http_status, 0) > 0 THEN 0
        ELSE r.reserved_tokens END
    FROM r LEFT JOIN upd u ON u.id = r.id AND u.token = r.token
    WHERE c.id = r.call_id AND coalesce(r.sent, true)
    RETURNING c.model,
              CASE WHEN r.reserved_tokens IS NOT NULL AND r.prior_settled IS NULL
                   THEN r.reserved_tokens - c.settled_tokens END AS delta,
              CASE WHEN r.reserved_tokens IS NOT NULL AND r.outcome = 'ok' THEN r.c_tok END
                AS sample),
  dropped AS (
    DELETE FROM llmlb.calls c USING r
     WHERE c.id = r.call_id AND NOT coalesce(r.sent, true)
    RETURNING c.model,
              CASE WHEN r.prior_settled IS NULL THEN r.reserved_tokens END AS delta),
  logged AS (
    INSERT INTO llmlb.calls (model, task_id, worker, endpoint, sent_at, finished_at, latency_ms,
                             outcome, error_class, http_status, lease_token)
    SELECT r.model, r.id, p_worker, coalesce(r.endpoint, 'single'),
           coalesce(r.claimed_at + coalesce(r.send_offset_ms, 0) * interval '1 millisecond',
                    v_now - coalesce(r.latency_ms, 0) * interval '1 millisecond'),
           v_now, r.latency_ms,
           CASE WHEN r.outcome = 'release' THEN 'abandoned'
                WHEN u.id IS NULL THEN 'lost_lease'
                WHEN NOT u.is_current THEN 'superseded'
                ELSE r.outcome END,
           r.error_class, r.http_status, r.token
      FROM r LEFT JOIN upd u ON u.id = r.id AND u.token = r.token
     WHERE coalesce(r.sent, true) AND r.call_id IS NULL
    RETURNING 1)
  SELECT (count(*) FILTER (WHERE upd.is_current AND upd.status = 'solved'))::integer,
         (count(*) FILTER (WHERE upd.is_current AND upd.status = 'failed'))::integer,
         (count(*) FILTER (WHERE upd.is_current AND upd.status = 'unsolved'
                             AND upd.outcome = 'transient'))::integer,
         (count(*) FILTER (WHERE upd.outcome = 'release'))::integer,
         ((SELECT count(*) FROM r) - count(*))::integer,
         (count(*) FILTER (WHERE NOT upd.is_current AND upd.outcome <> 'release'))::integer,
         (SELECT json_agg(json_build_object('model', z.model, 'delta', z.delta,
                                            'samples', z.samples))
            FROM (SELECT y.model, sum(y.delta) AS delta,
                         array_agg(y.sample) FILTER (WHERE y.sample IS NOT NULL) AS samples
                    FROM (SELECT d.model, d.delta, d.sample FROM done d
                          UNION ALL SELECT e.model, e.delta, NULL FROM dropped e) y
                   WHERE y.delta IS NOT NULL GROUP BY y.model) z)
    INTO solved, failed, retried, released, lost, superseded, v_settle
    FROM upd;
  RETURN NEXT;
  -- Issue 17: settle each model's tokens under its lock, in model id order.
  IF v_settle IS NOT NULL THEN
    FOR s IN SELECT mo.id, (e ->> 'delta')::double precision AS delta,
                    ARRAY(SELECT json_array_elements_text(
                      CASE WHEN json_typeof(e -> 'samples') = 'array' THEN e -> 'samples'
                           ELSE '[]' END))::integer[] AS samples
               FROM json_array_elements(v_settle) e JOIN llmlb.models mo ON mo.name = e ->> 'model'
              ORDER BY mo.id LOOP
      PERFORM llmlb.settle_tokens(s.id, s.delta, s.samples);
    END LOOP;
  END IF;
END $$;
