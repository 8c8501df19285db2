-- llmlb.tpm_capacity(p_tpm double precision, p_tpm_burst integer) RETURNS double precision
--
-- Issue 17. The most tokens a model's token bucket holds: its burst (tpm_burst, or 10 s of tpm,
-- ceil(tpm / 6), when NULL) less tpm / 60 x delivery_jitter_seconds(), as claim() does for
-- requests, so that any window of W seconds at the backend sees at most tpm x W / 60 + burst
-- tokens (of calls whose estimate held); but never less than one token or 20 ms of the rate.
-- Inputs: the model's tpm (> 0) and tpm_burst (NULL: the default).
-- Output: tokens; NULL when p_tpm is NULL. Locks: none (IMMUTABLE).

CREATE OR REPLACE FUNCTION llmlb.tpm_capacity(p_tpm double precision, p_tpm_burst integer)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
  SELECT least(b, greatest(1.0, p_tpm / 60.0 * 0.02,
                           b - p_tpm / 60.0 * llmlb.delivery_jitter_seconds()))
    FROM (SELECT coalesce(p_tpm_burst::double precision, ceil(p_tpm / 6.0)) AS b) x
$$;
