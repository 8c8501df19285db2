-- llmlb.delivery_jitter_seconds() RETURNS double precision
--
-- How much later than its claim a request may reach the backend (event loops, scheduling,
-- connection set-up): 0.15 s. claim() holds back rate x this much of each model's burst, so that
-- a window of W seconds at the backend, which spans up to W + jitter at claim time, still sees at
-- most rpm x W / 60 + burst requests. Sustained throughput is unchanged; only the burst shrinks,
-- and never below one request or 20 ms of rate (see claim()).
-- Inputs: none. Output: seconds. Locks: none (IMMUTABLE).

CREATE OR REPLACE FUNCTION llmlb.delivery_jitter_seconds() RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT 0.15::double precision $$;
