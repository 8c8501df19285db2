-- llmlb.estimate_tokens(p_bytes bigint, p_bytes_per_token double precision,
--                       p_min integer DEFAULT 0) RETURNS integer
--
-- Issue 17. The token estimator: a text of p_bytes UTF-8 bytes counts as
-- ceil(p_bytes / p_bytes_per_token) tokens, and at least p_min (claim() reserves at least one
-- token for a prompt). p_bytes_per_token is the model's llmlb.models.bytes_per_token (4 by
-- default: about right for English text and most BPE tokenizers).
-- Inputs: p_bytes >= 0 (NULL counts as 0), p_bytes_per_token > 0.
-- Output: tokens, at most 2^31 - 1. Locks: none (IMMUTABLE).

CREATE OR REPLACE FUNCTION llmlb.estimate_tokens(p_bytes bigint, p_bytes_per_token double precision,
                                                 p_min integer DEFAULT 0)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT least(2147483647, greatest(coalesce(p_min, 0),
                                    ceil(coalesce(p_bytes, 0) / p_bytes_per_token)))::integer
$$;
