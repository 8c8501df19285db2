-- Overload protection (issue 16): what llmlb has learned about a model's capacity, shared by
-- every process and kept for the next invocation. Written by llmlb.note_overload() under the
-- model's advisory lock; read by llmlb.claim(), status and the report.
--   inflight_limit: the calls in flight the model keeps up with, learned from timeouts, 503s and
--     latency far above its baseline; NULL: the configured max_inflight (nothing learned, or
--     recovered). claim() never grants more than floor(inflight_limit), nor max_inflight.
--   inflight_cut_at: when inflight_limit was last lowered (database clock); a signal from a
--     call claimed before it says nothing about the lowered limit.
--   overload_reason: why it was last lowered, one line; NULL once recovered.
--   overload_total: how often it was lowered.
--   latency_base_ms: the model's recent median latency when it keeps up (its baseline).
ALTER TABLE llmlb.quota
  ADD COLUMN IF NOT EXISTS inflight_limit double precision
    CHECK (inflight_limit IS NULL OR inflight_limit >= 1),
  ADD COLUMN IF NOT EXISTS inflight_cut_at timestamptz,
  ADD COLUMN IF NOT EXISTS overload_reason text,
  ADD COLUMN IF NOT EXISTS overload_total bigint NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS latency_base_ms double precision
    CHECK (latency_base_ms IS NULL OR latency_base_ms >= 0);
