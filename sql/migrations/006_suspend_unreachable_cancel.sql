-- Issue 14: failures that belong to the backend or the model, not the task.
--   llmlb.backend_state: one row; the whole backend's "unreachable" backoff, shared by every
--     worker (set by llmlb.note_unreachable(), read at the top of llmlb.claim()).
--   llmlb.model_health: one row per model that has shown model-level errors; a model is
--     suspended while suspended_at is set (set and cleared by llmlb.note_model_health()).
--   llmlb.models.probe_interval_seconds: how often a suspended model is probed with one task.
--   public.tasks status 'cancelled' (llmlb cancel): terminal, never claimed.

CREATE TABLE IF NOT EXISTS llmlb.backend_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  unreachable_since timestamptz,       -- first failed connection of the current outage
  unreachable_until timestamptz,       -- claim() grants nothing before this
  failures integer NOT NULL DEFAULT 0, -- reports since the outage began (drives the backoff)
  last_error text
);
INSERT INTO llmlb.backend_state (id) VALUES (true) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS llmlb.model_health (
  model_id integer PRIMARY KEY REFERENCES llmlb.models (id) ON DELETE CASCADE,
  error_streak integer NOT NULL DEFAULT 0,  -- identical model-level errors in a row
  error_sig text,                           -- the error of that streak
  suspended_at timestamptz,                 -- set: suspended
  reason text,                              -- why, one line
  probe_at timestamptz                      -- next probe due (one task)
);

ALTER TABLE llmlb.models
  ADD COLUMN IF NOT EXISTS probe_interval_seconds double precision NOT NULL DEFAULT 30
    CHECK (probe_interval_seconds >= 0.1 AND probe_interval_seconds <= 86400);

-- Re-add the status check with 'cancelled'. NOT VALID as before: existing rows are not scanned.
ALTER TABLE public.tasks DROP CONSTRAINT IF EXISTS tasks_llmlb_status_check;
ALTER TABLE public.tasks ADD CONSTRAINT tasks_llmlb_status_check
  CHECK (status IN ('unsolved', 'solved', 'failed', 'cancelled')) NOT VALID;
