-- Issue 17: token budgets (tokens per minute), reserved at the claim and settled at the answer.
-- See docs/operations.md "Token budgets", sql/functions/claim_tokens.sql (reserve) and
-- sql/functions/settle_tokens.sql (settle).
--
-- llmlb.models
--   tpm: the model's budget of tokens (prompt + completion) per minute; NULL: none, the model
--     is limited by rpm, burst and max_inflight only, exactly as before.
--   tpm_burst: the token bucket's depth; NULL: 10 s of tpm (ceil(tpm / 6)), see tpm_capacity().
--   bytes_per_token: the estimator's UTF-8 bytes per token (prompt and answer sizes become tokens
--     as ceil(bytes / bytes_per_token), at least 1 for a prompt).
-- llmlb.quota (written only under pg_advisory_xact_lock(72617, model id), like the rest)
--   tpm_level, tpm_refilled_at: the token bucket's level at tpm_refilled_at (may be negative
--     after an oversized task or a settlement that took more than was reserved); NULL: full.
--   out_estimate: the completion tokens reserved per task without max_tokens, a decaying high
--     percentile of what the model produced (settle_tokens() updates it); NULL: nothing learned.
--   tpm_hold_task, tpm_hold_since: the first task that did not fit the bucket, and since when;
--     once it has waited tpm_capacity / rate seconds no task behind it is granted until it fits.
-- public.tasks.max_tokens: an explicit completion budget; reserved instead of the estimate.
-- llmlb.calls
--   reserved_tokens: tokens the claim reserved for the call (NULL: the model had no tpm);
--   prompt_tokens, completion_tokens: what the backend reported (or, for tpm models, the
--     estimator's figure from the prompt's and answer's sizes); NULL when unknown;
--   settled_tokens: what the call finally cost the bucket (NULL until settled).

ALTER TABLE llmlb.models
  ADD COLUMN IF NOT EXISTS tpm double precision
    CONSTRAINT models_tpm_check CHECK (tpm > 0 AND tpm <= 1e9),  -- NaN fails "<= 1e9"
  ADD COLUMN IF NOT EXISTS tpm_burst integer
    CONSTRAINT models_tpm_burst_check CHECK (tpm_burst >= 1 AND tpm_burst <= 1000000000),
  ADD COLUMN IF NOT EXISTS bytes_per_token double precision NOT NULL DEFAULT 4
    CONSTRAINT models_bytes_per_token_check
      CHECK (bytes_per_token >= 0.5 AND bytes_per_token <= 64);

ALTER TABLE llmlb.quota
  ADD COLUMN IF NOT EXISTS tpm_level double precision,
  ADD COLUMN IF NOT EXISTS tpm_refilled_at timestamptz,
  ADD COLUMN IF NOT EXISTS out_estimate double precision,
  ADD COLUMN IF NOT EXISTS tpm_hold_task bigint,
  ADD COLUMN IF NOT EXISTS tpm_hold_since timestamptz;

ALTER TABLE llmlb.calls
  ADD COLUMN IF NOT EXISTS reserved_tokens integer,
  ADD COLUMN IF NOT EXISTS prompt_tokens integer,
  ADD COLUMN IF NOT EXISTS completion_tokens integer,
  ADD COLUMN IF NOT EXISTS settled_tokens integer;

-- No default: adding the column to a big tasks table rewrites nothing.
ALTER TABLE public.tasks ADD COLUMN IF NOT EXISTS max_tokens integer;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tasks_llmlb_max_tokens_check'
                 AND conrelid = 'public.tasks'::regclass) THEN
    -- NOT VALID: checked for new and updated rows; existing rows are not scanned.
    ALTER TABLE public.tasks ADD CONSTRAINT tasks_llmlb_max_tokens_check
      CHECK (max_tokens > 0) NOT VALID;
  END IF;
END $$;
