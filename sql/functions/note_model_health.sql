-- llmlb.note_model_health(p_model text, p_ok boolean, p_hard text, p_reset boolean,
--                         p_sig text, p_streak integer, p_threshold integer DEFAULT 3)
--   RETURNS TABLE (suspended boolean, changed boolean, reason text)
--
-- What a worker's last calls of one model said about the model itself (not its tasks), and
-- whether the model is suspended (llmlb.model_health). A suspended model gets no task from
-- claim() until its probe is due (probe_at), then exactly one, every probe_interval_seconds
-- (llmlb.models); `llmlb limits set MODEL --enable` resumes it at once.
-- Inputs, applied in this order:
--   p_ok: an answer arrived: the model is resumed and its error streak forgotten;
--   p_hard: a model-level error (HTTP 404 unknown model, 401/403 bad token): suspend now with
--     this reason (NULL: none);
--   p_sig, p_streak, p_reset: p_streak identical permanent errors p_sig in a row (0: none); they
--     extend the stored streak unless p_reset or the stored error differs; at p_threshold the
--     model is suspended with reason "<n> identical errors in a row: <p_sig>".
-- Output: whether the model is suspended now, whether that changed, and the reason.
-- Locks: the model's row of llmlb.model_health. Writes nothing when there is nothing to change.
-- Edge cases: an unknown model returns no row.

CREATE OR REPLACE FUNCTION llmlb.note_model_health(p_model text, p_ok boolean, p_hard text,
                                                   p_reset boolean, p_sig text, p_streak integer,
                                                   p_threshold integer DEFAULT 3)
RETURNS TABLE (suspended boolean, changed boolean, reason text)
LANGUAGE plpgsql AS $$
DECLARE
  v_id integer;
  v_interval double precision;
  v_now timestamptz := clock_timestamp();
  h llmlb.model_health;
  v_was boolean;
  v_reason text;
  v_streak integer;
BEGIN
  SELECT id, probe_interval_seconds INTO v_id, v_interval FROM llmlb.models WHERE name = p_model;
  IF v_id IS NULL THEN
    RETURN;
  END IF;
  IF p_hard IS NULL AND coalesce(p_streak, 0) <= 0 THEN
    -- Answers only: resume and forget the streak, if there is anything to forget.
    SELECT mh.suspended_at IS NOT NULL INTO v_was FROM llmlb.model_health mh
     WHERE mh.model_id = v_id AND (mh.suspended_at IS NOT NULL OR mh.error_streak > 0)
       FOR UPDATE;
    IF FOUND AND p_ok THEN
      UPDATE llmlb.model_health mh SET suspended_at = NULL, reason = NULL, probe_at = NULL,
             error_streak = 0, error_sig = NULL
       WHERE mh.model_id = v_id;
      suspended := false;
      changed := v_was;
    ELSE
      suspended := coalesce(v_was, false);
      changed := false;
    END IF;
    reason := NULL;
    RETURN NEXT;
    RETURN;
  END IF;
  INSERT INTO llmlb.model_health (model_id) VALUES (v_id) ON CONFLICT DO NOTHING;
  SELECT * INTO h FROM llmlb.model_health WHERE model_id = v_id FOR UPDATE;
  v_was := h.suspended_at IS NOT NULL;
  IF p_ok THEN
    h.suspended_at := NULL;
    h.error_streak := 0;
    h.error_sig := NULL;
  END IF;
  v_reason := NULL;
  IF p_hard IS NOT NULL THEN
    v_reason := left(p_hard, 300);
  ELSIF coalesce(p_streak, 0) > 0 THEN
    v_streak := CASE WHEN p_reset OR h.error_sig IS DISTINCT FROM p_sig THEN 0
                     ELSE h.error_streak END + p_streak;
    h.error_streak := v_streak;
    h.error_sig := p_sig;
    IF v_streak >= greatest(coalesce(p_threshold, 3), 1) THEN
      v_reason := left(format('%s identical errors in a row: %s', v_streak, p_sig), 300);
    END IF;
  END IF;
  IF v_reason IS NOT NULL THEN
    IF h.suspended_at IS NULL THEN
      h.suspended_at := v_now;
      h.probe_at := v_now + v_interval * interval '1 second';
    END IF;
    h.probe_at := coalesce(h.probe_at, v_now + v_interval * interval '1 second');
    h.reason := v_reason;
  ELSIF h.suspended_at IS NULL THEN
    h.reason := NULL;
    h.probe_at := NULL;
  END IF;
  UPDATE llmlb.model_health SET error_streak = h.error_streak, error_sig = h.error_sig,
         suspended_at = h.suspended_at, reason = h.reason, probe_at = h.probe_at
   WHERE model_id = v_id;
  suspended := h.suspended_at IS NOT NULL;
  changed := suspended <> v_was;
  reason := h.reason;
  RETURN NEXT;
END $$;
