-- llmlb.claim(p_worker text, p_want integer, p_models text[], p_lease_seconds double precision,
--             p_sweep boolean DEFAULT true, p_endpoint text DEFAULT 'single')
--   RETURNS TABLE (kind text, model text, task_id bigint, prompt text, lease_token bigint,
--                  attempts integer, wait_seconds double precision, note text,
--                  claimed_at timestamptz)
--
-- Claims up to p_want tasks for worker p_worker, honouring every model's rate, burst and
-- max_inflight across all processes.
-- Inputs: p_models, the enabled models to serve (NULL: all enabled models); p_lease_seconds > 0,
--   the lease length; p_sweep, run sweep_if_due() first (a new process passes false and sweeps
--   once its first requests are on their way).
-- Output: one 'task' row per claimed task (model, task_id, prompt, lease_token, attempts,
--   claimed_at), and one 'model' row per model considered, in preference order, whose note says
--   what limited it and whose wait_seconds says when its next token is due:
--     'rate' out of tokens; 'inflight' max_inflight reached; 'cooldown' after a 429 (wait is the
--     cooldown left); 'idle' nothing claimable (or all of it locked by other claims); 'full' the
--     caller wants no more; 'more' stopped at its fair share of pinned work, claim again soon;
--     'suspended' the model is suspended (llmlb.model_health), wait is the time to its probe.
--   A model with a token budget (tpm) says 'rate' also when a task did not fit its token
--   bucket; wait is then the later of its next request token and the tokens that task needs.
-- Locks: for each model with claimable work, pg_advisory_xact_lock(72617, model id), held to the
--   end of the caller's transaction (callers commit at once); row locks FOR UPDATE SKIP LOCKED on
--   the tasks it picks, so concurrent claims never wait for each other's tasks and never take
--   the same task; the model's llmlb.quota row.
-- Guarantees: under the model's lock the bucket is refilled from rpm (lowered by 429s, see
--   effective_factor()) on the database clock, capped at burst less rpm x delivery jitter (but
--   at least one request or 20 ms of rate); a task is granted only for a whole token and a free
--   slot (live leases, llmlb.live_leases, below max_inflight, or below the lower limit overload
--   protection learned: llmlb.quota.inflight_limit, see note_overload()); exactly one token is consumed per
--   claimed task. Limits are read under the lock, so a change committed before the lock is
--   obeyed. Tasks go by priority (highest first), then age; pinned tasks (model set) only to
--   their model, unpinned ones to models in preference order. Within one claim no model takes
--   more than ceil(p_want / models) of its own pinned tasks. A claimed task gets lease_owner = p_worker,
--   leased_at, lease_expires_at and a lease token (one per model per call) that guards its writes.
--   Every claimed task gets its llmlb.calls row in the same transaction (outcome 'sent',
--   sent_at the claim time, finished_at NULL, the lease token and md5 of the prompt), so a
--   request is on record before it can leave the worker; complete() fills in its outcome,
--   sweep() marks it 'unknown' if the lease expires first.
--   Issue 17: for a model with tpm set, the tasks are picked by claim_tokens() instead, under
--   the same lock, which also reserves each task's estimated tokens from the model's token
--   bucket; a model with tpm NULL runs exactly the statements it ran before.
-- Edge cases: a model with no claimable work is reported 'idle' without its lock or a bucket
--   write; a model disabled or deleted while the claim waited for its lock is skipped (no row);
--   p_want <= 0 claims nothing and reports every model with work 'full'; a NULL or non-positive
--   lease raises an error. Every statement plans generically (plan_cache_mode) and reads tasks
--   only through partial indexes and the primary key (tests/e2e/test_sql.py checks it).

-- The four-argument form (no p_sweep) of releases before 003_claim_fast_start.sql, and the
-- five-argument form (no p_endpoint) before 005_calls_on_record.sql; calls with four or five
-- arguments now resolve to the defaults.
DROP FUNCTION IF EXISTS llmlb.claim(text, integer, text[], double precision);
DROP FUNCTION IF EXISTS llmlb.claim(text, integer, text[], double precision, boolean);

CREATE OR REPLACE FUNCTION llmlb.claim(p_worker text, p_want integer, p_models text[],
                            p_lease_seconds double precision, p_sweep boolean DEFAULT true,
                            p_endpoint text DEFAULT 'single')
RETURNS TABLE (kind text, model text, task_id bigint, prompt text, lease_token bigint,
               attempts integer, wait_seconds double precision, note text, claimed_at timestamptz)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  m record;
  r record;
  v_now timestamptz;
  v_burst integer;
  v_max_inflight integer;
  v_enabled boolean;
  v_cooldown timestamptz;
  v_level double precision;
  v_refilled timestamptz;
  v_rate double precision;
  v_tokens double precision;
  v_inflight integer;
  v_grant integer;
  v_got integer;
  v_pinned integer;
  v_left integer := greatest(p_want, 0);
  v_share integer;
  v_token bigint;
  v_unpinned boolean;
  v_backend_wait double precision;  -- issue 14: the backend is unreachable (note_unreachable)
  v_probe timestamptz;              -- issue 14: the model is suspended; its next probe
  v_tpm double precision;           -- issue 17: the model's token budget (NULL: none)
  v_token_wait double precision;    -- issue 17: until the first task passed over would fit
BEGIN
  IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 THEN
    RAISE EXCEPTION 'lease must be positive';
  END IF;
  IF p_sweep THEN
    PERFORM llmlb.sweep_if_due();
  END IF;
  -- The backend is unreachable (llmlb.backend_state, note_unreachable()): claim nothing until its
  -- backoff ends; every model is reported 'cooldown' with the time left.
  SELECT extract(epoch FROM b.unreachable_until - clock_timestamp()) INTO v_backend_wait
    FROM llmlb.backend_state b WHERE b.id AND b.unreachable_until > clock_timestamp();
  IF v_backend_wait IS NOT NULL THEN
    FOR m IN SELECT mo.name FROM llmlb.models mo
              WHERE mo.enabled AND (p_models IS NULL OR mo.name = ANY (p_models))
              ORDER BY mo.preference, mo.id LOOP
      kind := 'model'; model := m.name; task_id := NULL; prompt := NULL; lease_token := NULL;
      attempts := NULL; wait_seconds := v_backend_wait; note := 'cooldown';
      claimed_at := clock_timestamp();
      RETURN NEXT;
    END LOOP;
    RETURN;
  END IF;
  -- Which models have anything to claim right now: a model with no claimable work is reported
  -- 'idle' without taking its lock or touching its bucket (tokens refill lazily, so skipping
  -- the write changes nothing).
  -- Both probes read their partial index in its own order (ORDER BY ... LIMIT 1, which the
  -- planner must honour): written as EXISTS, the generic plan can be a sequential scan of tasks
  -- that stops at the first match, which is cheap on a fresh backlog but reads every solved
  -- task in front of the first unsolved one later on.
  v_unpinned := (SELECT true FROM public.tasks t WHERE t.status = 'unsolved'
                   AND t.lease_token IS NULL AND t.retry_at IS NULL AND t.model IS NULL
                 ORDER BY t.priority DESC, t.created_at, t.id LIMIT 1) IS NOT NULL;
  FOR m IN
    SELECT mo.id, mo.name, count(*) OVER () AS n, v_unpinned OR w.x IS NOT NULL AS has_work
      FROM llmlb.models mo
      LEFT JOIN LATERAL (SELECT 1 AS x FROM public.tasks t
                          WHERE t.status = 'unsolved' AND t.lease_token IS NULL
                            AND t.retry_at IS NULL AND t.model = mo.name
                          ORDER BY t.priority DESC, t.created_at, t.id LIMIT 1) w ON true
     WHERE mo.enabled AND (p_models IS NULL OR mo.name = ANY (p_models))
     ORDER BY mo.preference, mo.id
  LOOP
    -- Pinned work is shared fairly: in one claim no model takes more than its share of p_want
    -- for its own pinned tasks, so that the first model in preference order cannot take every
    -- free slot of this process. Unpinned work still fills models in preference order.
    IF v_share IS NULL THEN
      v_share := greatest(1, ceil(v_left::double precision / m.n))::integer;
    END IF;
    IF NOT m.has_work OR v_left <= 0 THEN
      kind := 'model'; model := m.name; task_id := NULL; prompt := NULL; lease_token := NULL;
      attempts := NULL; wait_seconds := 0; claimed_at := clock_timestamp();
      note := CASE WHEN m.has_work THEN 'full' ELSE 'idle' END;
      RETURN NEXT;
      CONTINUE;
    END IF;
    PERFORM pg_advisory_xact_lock(72617, m.id);
    v_now := clock_timestamp();
    -- Limits and bucket, read under the lock: an UPDATE since the loop started is obeyed now.
    -- A model without a quota row yet starts with a full bucket.
    -- max_inflight is lowered to what overload protection learned (llmlb.note_overload()).
    SELECT mo.burst, llmlb.effective_max_inflight(mo.max_inflight, q.inflight_limit), mo.enabled,
           q.cooldown_until, q.tokens, q.refilled_at,
           mo.rpm / 60.0 * coalesce(llmlb.effective_factor(q, v_now), 1.0),
           mo.tpm  -- issue 17
      INTO v_burst, v_max_inflight, v_enabled, v_cooldown, v_level, v_refilled, v_rate,
           v_tpm
      FROM llmlb.models mo LEFT JOIN llmlb.quota q ON q.model_id = mo.id
     WHERE mo.id = m.id;
    CONTINUE WHEN NOT coalesce(v_enabled, false);  -- disabled or deleted since the loop began
    -- A suspended model (llmlb.model_health) takes nothing before its probe is due ('suspended'
    -- until then), then one task, and the next probe is pushed one probe interval later.
    v_probe := NULL;
    SELECT h.probe_at INTO v_probe FROM llmlb.model_health h
     WHERE h.model_id = m.id AND h.suspended_at IS NOT NULL;
    IF v_probe > v_now THEN
      kind := 'model'; model := m.name; task_id := NULL; prompt := NULL; lease_token := NULL;
      attempts := NULL; wait_seconds := extract(epoch FROM v_probe - v_now); note := 'suspended';
      claimed_at := v_now;
      RETURN NEXT;
      CONTINUE;
    END IF;
    -- The bucket never holds more than burst less rate x delivery jitter (see
    -- delivery_jitter_seconds), nor less than one request or 20 ms of rate.
    v_tokens := least(least(v_burst::double precision,
                            greatest(1.0, v_rate * 0.02,
                                     v_burst - v_rate * llmlb.delivery_jitter_seconds())),
                      coalesce(v_level + greatest(0, extract(epoch FROM v_now - v_refilled)) * v_rate,
                               v_burst));
    v_got := 0;
    v_grant := 0;
    v_inflight := 0;
    IF v_cooldown > v_now THEN
      v_tokens := least(v_tokens, 0);
    ELSE
      -- Through tasks_llmlb_leased_idx: the view's lease_token IS NOT NULL matches its predicate.
      SELECT count(*) INTO v_inflight FROM llmlb.live_leases l WHERE l.model = m.name;
      v_grant := least(floor(v_tokens)::integer, v_max_inflight - v_inflight, v_left);
      IF v_probe IS NOT NULL THEN
        v_grant := least(v_grant, 1);  -- the probe of a suspended model
      END IF;
    END IF;
    v_pinned := 0;
    v_token_wait := NULL;
    -- >>> issue 17: token budgets. The tasks that fit the token bucket (claim_tokens.sql).
    IF v_grant > 0 AND v_tpm IS NOT NULL THEN
      v_token := nextval('llmlb.lease_token_seq');
      FOR r IN SELECT * FROM llmlb.claim_tokens(m.id, m.name, p_worker, v_grant, v_share, v_token,
                                                v_now, p_lease_seconds, p_endpoint) LOOP
        IF r.task_id IS NULL THEN
          v_token_wait := r.token_wait;
          CONTINUE;
        END IF;
        kind := 'task'; model := m.name; task_id := r.task_id; prompt := r.prompt;
        lease_token := v_token; attempts := r.attempts; wait_seconds := NULL; note := NULL;
        claimed_at := v_now;
        RETURN NEXT;
        v_got := v_got + 1;
        v_pinned := v_pinned + CASE WHEN r.is_pinned THEN 1 ELSE 0 END;
      END LOOP;
    ELSIF v_grant > 0 THEN  -- <<< issue 17
      v_token := nextval('llmlb.lease_token_seq');
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
        -- The picked ids are matched as an array, which plans as a primary-key lookup: joined
        -- as UPDATE ... FROM c, the generic plan is a hash join over the whole table. c holds at
        -- most v_grant ids (its LIMIT), evaluated once.
        upd AS (
          UPDATE public.tasks t
             SET lease_owner = p_worker, lease_token = v_token, lease_model = m.name,
                 leased_at = v_now, lease_expires_at = v_now + p_lease_seconds * interval '1 second'
           WHERE t.id = ANY (ARRAY(SELECT c.id FROM c))
          RETURNING t.id, t.prompt, t.attempts, t.model IS NOT NULL AS is_pinned),
        -- The call, on record before the request can leave the worker.
        logged AS (
          INSERT INTO llmlb.calls (model, task_id, worker, endpoint, sent_at, outcome,
                                   lease_token, prompt_md5)
          SELECT m.name, upd.id, p_worker, coalesce(p_endpoint, 'single'), v_now, 'sent',
                 v_token, md5(upd.prompt)
            FROM upd)
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
    END IF;
    IF v_probe IS NOT NULL AND v_got > 0 THEN
      UPDATE llmlb.model_health h SET probe_at = v_now + mo.probe_interval_seconds * interval '1 second'
        FROM llmlb.models mo WHERE mo.id = m.id AND h.model_id = m.id;
    END IF;
    v_tokens := v_tokens - v_got;
    v_left := v_left - v_got;
    -- One write of the bucket per model: its level now, less one token per claimed task.
    INSERT INTO llmlb.quota (model_id, tokens, refilled_at, factor_at)
      VALUES (m.id, v_tokens, v_now, v_now)
      ON CONFLICT (model_id) DO UPDATE SET tokens = excluded.tokens,
                                           refilled_at = excluded.refilled_at;

    kind := 'model'; model := m.name; task_id := NULL; prompt := NULL; lease_token := NULL;
    attempts := NULL; claimed_at := v_now;
    IF v_cooldown > v_now THEN
      wait_seconds := extract(epoch FROM v_cooldown - v_now);
      note := 'cooldown';
      RETURN NEXT;
      CONTINUE;
    END IF;
    wait_seconds := CASE WHEN v_tokens >= 1 THEN 0 ELSE (1 - v_tokens) / v_rate END;
    IF v_token_wait IS NOT NULL THEN  -- issue 17: a task did not fit the token bucket
      wait_seconds := greatest(wait_seconds, v_token_wait);
      note := 'rate';
    ELSIF v_grant > 0 AND v_pinned >= v_share AND v_got < v_grant THEN
      note := 'more';      -- stopped at its fair share of pinned work: claim again soon
    ELSIF v_got < v_grant THEN
      note := 'idle';      -- took everything claimable
    ELSIF v_left <= 0 THEN
      note := 'full';      -- the caller wants no more
    ELSE
      -- Work was waiting when the claim began (m.has_work): say what held this model back,
      -- so the caller knows whether to sleep until the next token (rate) or a free slot.
      IF v_max_inflight - v_inflight - v_got <= 0 THEN
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
