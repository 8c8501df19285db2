-- llmlb schema, version 2: the shared claim / complete / cooldown logic, so that every process
-- runs one implementation. All time arithmetic uses the database clock (clock_timestamp()).
-- Advisory-lock keys are fixed integers: (72617, 0) guards migrations, (72617, models.id) guards
-- a model's quota state.

-- Returns leases that expired (their owner died or lost the database) and retries that are due
-- to the claimable pool. Skips rows another transaction holds. Returns how many rows it changed.
CREATE OR REPLACE FUNCTION llmlb.sweep() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_expired integer;
  v_due integer;
BEGIN
  WITH c AS (
    SELECT id FROM public.tasks
    WHERE lease_token IS NOT NULL AND lease_expires_at < v_now
    ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
  UPDATE public.tasks t
     SET lease_owner = NULL, lease_token = NULL, lease_model = NULL, lease_expires_at = NULL,
      leased_at = NULL
    FROM c WHERE t.id = c.id;
  GET DIAGNOSTICS v_expired = ROW_COUNT;
  WITH c AS (
    SELECT id FROM public.tasks
    WHERE retry_at IS NOT NULL AND retry_at <= v_now
    ORDER BY retry_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
  UPDATE public.tasks t SET retry_at = NULL FROM c WHERE t.id = c.id;
  GET DIAGNOSTICS v_due = ROW_COUNT;
  RETURN v_expired + v_due;
END $$;

-- Effective rate (requests per second) of a model: its rpm, lowered after 429s by rate_factor,
-- which recovers linearly by p_recovery per second back to 1.
CREATE OR REPLACE FUNCTION llmlb.effective_factor(q llmlb.quota, p_now timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
  SELECT least(1.0, q.rate_factor + greatest(0, extract(epoch FROM p_now - q.factor_at)) / 30.0)
$$;

-- How much later than its claim a request may reach the backend (event loops, scheduling,
-- connection set-up). The bucket holds back rate × this much of its burst, so that a window of
-- W seconds at the backend, which spans up to W + jitter at claim time, still sees at most
-- rpm × W / 60 + burst requests. Sustained throughput is unchanged; only the burst shrinks,
-- never below one request or 20 ms of rate (so that fast models still claim in batches).
CREATE OR REPLACE FUNCTION llmlb.delivery_jitter_seconds() RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT 0.15::double precision $$;

-- Claims up to p_want tasks for worker p_worker across the enabled models named in p_models
-- (all enabled models when NULL), in preference order. For each model, under its advisory lock:
-- refill the token bucket (rpm, burst) on the database clock, count live leases against
-- max_inflight, claim at most that many tasks with FOR UPDATE SKIP LOCKED, stamp each with a
-- lease (owner, token, model, expiry), and consume exactly one token per claimed task.
-- Returns one 'task' row per claimed task, and one 'model' row per model considered, whose
-- note says what limited it ('rate', 'inflight', 'cooldown', 'idle', 'full', 'more') and whose
-- wait_seconds says when its next token is due.
CREATE OR REPLACE FUNCTION llmlb.claim(p_worker text, p_want integer, p_models text[],
                                       p_lease_seconds double precision)
RETURNS TABLE (kind text, model text, task_id bigint, prompt text, lease_token bigint,
               attempts integer, wait_seconds double precision, note text, claimed_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  m record;
  q llmlb.quota;
  v_now timestamptz;
  v_rate double precision;
  v_tokens double precision;
  v_inflight integer;
  v_grant integer;
  v_got integer;
  v_left integer := greatest(p_want, 0);
  v_token bigint;
  v_has_work boolean;
  v_share integer;
  v_pinned integer;
  r record;
BEGIN
  IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 THEN
    RAISE EXCEPTION 'lease must be positive';
  END IF;
  -- One claim among all processes sweeps per 250 ms; the others skip the locked row.
  PERFORM 1 FROM llmlb.sweep_state
    WHERE last_at < clock_timestamp() - interval '250 milliseconds' FOR UPDATE SKIP LOCKED;
  IF FOUND THEN
    UPDATE llmlb.sweep_state SET last_at = clock_timestamp();
    PERFORM llmlb.sweep();
  END IF;
  -- Pinned work is shared fairly: in one claim no model takes more than its share of p_want for
  -- its own pinned tasks, so that the first model in preference order cannot take every free
  -- slot of this process. Unpinned work still fills models in preference order.
  SELECT greatest(1, ceil(v_left::double precision / greatest(count(*), 1)))::integer INTO v_share
    FROM llmlb.models mo
    WHERE mo.enabled AND (p_models IS NULL OR mo.name = ANY (p_models));
  FOR m IN
    SELECT mo.id, mo.name, mo.rpm, mo.burst, mo.max_inflight FROM llmlb.models mo
    WHERE mo.enabled AND (p_models IS NULL OR mo.name = ANY (p_models))
    ORDER BY mo.preference, mo.id
  LOOP
    PERFORM pg_advisory_xact_lock(72617, m.id);
    -- Re-read the limits under the lock: an UPDATE since the loop started must be obeyed now.
    SELECT mo.rpm, mo.burst, mo.max_inflight, mo.enabled INTO m.rpm, m.burst, m.max_inflight
      FROM llmlb.models mo WHERE mo.id = m.id;
    v_now := clock_timestamp();
    INSERT INTO llmlb.quota (model_id, tokens, refilled_at, factor_at)
      VALUES (m.id, m.burst, v_now, v_now) ON CONFLICT (model_id) DO NOTHING;
    SELECT * INTO q FROM llmlb.quota WHERE model_id = m.id;
    v_rate := m.rpm / 60.0 * llmlb.effective_factor(q, v_now);
    v_tokens := least(least(m.burst::double precision,
                            greatest(1.0, v_rate * 0.02,
                                     m.burst - v_rate * llmlb.delivery_jitter_seconds())),
                      q.tokens + greatest(0, extract(epoch FROM v_now - q.refilled_at)) * v_rate);
    kind := 'model'; model := m.name; task_id := NULL; prompt := NULL; lease_token := NULL;
    attempts := NULL; claimed_at := v_now;

    IF q.cooldown_until IS NOT NULL AND q.cooldown_until > v_now THEN
      UPDATE llmlb.quota SET tokens = least(v_tokens, 0), refilled_at = v_now WHERE model_id = m.id;
      wait_seconds := extract(epoch FROM q.cooldown_until - v_now);
      note := 'cooldown';
      RETURN NEXT;
      CONTINUE;
    END IF;

    SELECT count(*) INTO v_inflight FROM public.tasks t
      WHERE t.lease_token IS NOT NULL AND t.lease_model = m.name AND t.lease_expires_at > v_now;
    v_grant := least(floor(v_tokens)::integer, m.max_inflight - v_inflight, v_left);
    v_got := 0;
    IF v_grant > 0 THEN
      v_token := nextval('llmlb.lease_token_seq');
      v_pinned := 0;
      FOR r IN
        WITH pinned AS (
          SELECT t.id, t.priority, t.created_at FROM public.tasks t
          WHERE t.status = 'unsolved' AND t.lease_token IS NULL AND t.retry_at IS NULL
            AND t.model = m.name
          ORDER BY t.priority DESC, t.created_at, t.id
          LIMIT least(v_grant, v_share) FOR UPDATE SKIP LOCKED),
        unpinned AS (
          SELECT t.id, t.priority, t.created_at FROM public.tasks t
          WHERE t.status = 'unsolved' AND t.lease_token IS NULL AND t.retry_at IS NULL
            AND t.model IS NULL
          ORDER BY t.priority DESC, t.created_at, t.id
          LIMIT v_grant FOR UPDATE SKIP LOCKED),
        c AS (
          SELECT x.id FROM (SELECT * FROM pinned UNION ALL SELECT * FROM unpinned) x
          ORDER BY x.priority DESC, x.created_at, x.id
          LIMIT v_grant),
        upd AS (
          UPDATE public.tasks t
             SET lease_owner = p_worker, lease_token = v_token, lease_model = m.name,
                 leased_at = v_now, lease_expires_at = v_now + p_lease_seconds * interval '1 second'
            FROM c WHERE t.id = c.id
          RETURNING t.id, t.prompt, t.attempts, t.model IS NOT NULL AS is_pinned)
        SELECT * FROM upd
      LOOP
        kind := 'task'; model := m.name; task_id := r.id; prompt := r.prompt;
        lease_token := v_token; attempts := r.attempts; wait_seconds := NULL; note := NULL;
        claimed_at := v_now;
        RETURN NEXT;
        v_got := v_got + 1;
        IF r.is_pinned THEN
          v_pinned := v_pinned + 1;
        END IF;
      END LOOP;
      kind := 'model'; task_id := NULL; prompt := NULL; lease_token := NULL; attempts := NULL;
    END IF;
    v_tokens := v_tokens - v_got;
    v_left := v_left - v_got;
    UPDATE llmlb.quota SET tokens = v_tokens, refilled_at = v_now WHERE model_id = m.id;

    wait_seconds := CASE WHEN v_tokens >= 1 THEN 0 ELSE (1 - v_tokens) / v_rate END;
    IF v_grant > 0 AND v_pinned >= v_share AND v_got < v_grant THEN
      note := 'more';      -- stopped at its fair share of pinned work: claim again soon
    ELSIF v_got < v_grant THEN
      note := 'idle';      -- took everything claimable
    ELSIF v_left <= 0 THEN
      note := 'full';      -- the caller wants no more
    ELSE
      IF v_got = 0 THEN
        -- Nothing claimed: say whether work is waiting, so the caller knows whether to sleep
        -- until the next token (rate), a free slot (inflight) or the next poll (idle).
        SELECT EXISTS (SELECT 1 FROM public.tasks t WHERE t.status = 'unsolved'
                         AND t.lease_token IS NULL AND t.retry_at IS NULL AND t.model = m.name)
            OR EXISTS (SELECT 1 FROM public.tasks t WHERE t.status = 'unsolved'
                         AND t.lease_token IS NULL AND t.retry_at IS NULL AND t.model IS NULL)
          INTO v_has_work;
      ELSE
        v_has_work := true;
      END IF;
      IF NOT v_has_work THEN
        note := 'idle';
      ELSIF m.max_inflight - v_inflight - v_got <= 0 THEN
        note := 'inflight';
      ELSIF v_tokens < 1 THEN
        note := 'rate';
      ELSE
        note := 'idle';    -- work exists, but other processes hold it locked right now
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- Records the outcome of calls and releases. p_results is a JSON array of objects:
--   {id, token, model, outcome: ok|transient|permanent|release, answer, error, error_class,
--    http_status, endpoint, claimed_at, send_offset_ms, latency_ms, retry_seconds, sent}
-- Every task write is guarded by (id, lease token): a process whose lease was lost and re-claimed
-- changes nothing. 'transient' schedules a retry after retry_seconds, or fails the task once it
-- has reached p_max_attempts calls. 'release' hands the task back without counting an attempt.
-- Every result with sent=true is logged in llmlb.calls. Returns counts of what was written.
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

-- A model answered 429: start (or extend) its shared cooldown for p_retry_after seconds and halve
-- its effective rate, which then recovers gradually. The configured limit is not changed.
CREATE OR REPLACE FUNCTION llmlb.note_rate_limited(p_model text, p_retry_after double precision,
                                                   p_count integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_id integer;
  v_now timestamptz;
  q llmlb.quota;
BEGIN
  SELECT id INTO v_id FROM llmlb.models WHERE name = p_model;
  IF v_id IS NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(72617, v_id);
  v_now := clock_timestamp();
  INSERT INTO llmlb.quota (model_id, tokens, refilled_at, factor_at)
    VALUES (v_id, 0, v_now, v_now) ON CONFLICT (model_id) DO NOTHING;
  SELECT * INTO q FROM llmlb.quota WHERE model_id = v_id;
  UPDATE llmlb.quota SET
    cooldown_until = greatest(coalesce(cooldown_until, v_now),
                              v_now + greatest(coalesce(p_retry_after, 1), 0.05) * interval '1 second'),
    rate_factor = greatest(0.05, llmlb.effective_factor(q, v_now) * 0.5),
    factor_at = v_now,
    tokens = least(tokens, 0),
    refilled_at = v_now,
    rate_limited_total = rate_limited_total + greatest(p_count, 1)
  WHERE model_id = v_id;
END $$;

-- Extends the leases that p_worker still holds on p_ids by p_lease_seconds from now. Returns how
-- many leases were extended (fewer than asked means some were lost).
CREATE OR REPLACE FUNCTION llmlb.renew(p_worker text, p_ids bigint[], p_lease_seconds double precision)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v integer;
BEGIN
  UPDATE public.tasks SET lease_expires_at = clock_timestamp() + p_lease_seconds * interval '1 second'
   WHERE id = ANY (p_ids) AND lease_owner = p_worker AND lease_token IS NOT NULL;
  GET DIAGNOSTICS v = ROW_COUNT;
  RETURN v;
END $$;

-- The largest number of calls a model received in any window of p_window starting at one of its
-- calls since p_since: the proof, in SQL, of the rate each model really got.
CREATE OR REPLACE FUNCTION llmlb.max_calls_in_window(p_model text, p_window interval,
                                                     p_since timestamptz)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(max(n), 0) FROM (
    SELECT count(*) OVER (ORDER BY sent_at RANGE BETWEEN CURRENT ROW AND p_window FOLLOWING) AS n
    FROM llmlb.calls WHERE model = p_model AND sent_at >= p_since) w
$$;
