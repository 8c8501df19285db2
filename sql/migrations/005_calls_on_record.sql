-- Every request on record: claim() writes a task's llmlb.calls row in the claim's own
-- transaction, before the request can leave the worker, and complete() fills in its outcome.
-- So a row exists for every request the backend may have seen, even when the worker is killed
-- with -9 right after its claim.
--
-- - outcome 'sent': claimed and sent, outcome not known yet (finished_at NULL);
--   'superseded': the answer came back, but the task had changed since the claim (its prompt
--   was edited, or it was no longer unsolved), so nothing was written;
--   'unknown': the worker's lease expired with no outcome on record (killed, or paused past
--   its lease); a late result of that worker still fills it in.
-- - lease_token: the claim's token; complete() finds the row by (task_id, lease_token).
-- - prompt_md5: md5 of the prompt as claimed; complete() writes an answer only while the
--   task's prompt still has this hash.
-- The new CHECK admits every value the old one did, so it is added NOT VALID: old rows pass it,
-- and the call log, which can be large, is not scanned.
ALTER TABLE llmlb.calls
  ALTER COLUMN finished_at DROP NOT NULL,
  ADD COLUMN IF NOT EXISTS lease_token bigint,
  ADD COLUMN IF NOT EXISTS prompt_md5 text,
  DROP CONSTRAINT IF EXISTS calls_outcome_check,
  ADD CONSTRAINT calls_outcome_check
    CHECK (outcome IN ('sent', 'ok', 'transient', 'permanent', 'abandoned', 'lost_lease',
                       'superseded', 'unknown')) NOT VALID;

-- The calls whose outcome is still open, by task: complete() and sweep() look them up here.
CREATE INDEX IF NOT EXISTS calls_open_idx ON llmlb.calls (task_id, lease_token)
  WHERE outcome IN ('sent', 'unknown');
