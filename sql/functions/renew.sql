-- llmlb.renew(p_worker text, p_ids bigint[], p_lease_seconds double precision) RETURNS integer
--
-- Extends the leases that worker p_worker holds on tasks p_ids to p_lease_seconds from now
-- (database clock).
-- Output: how many leases were extended; fewer than asked means some were lost (swept and
--   perhaps claimed by another worker), and the caller should stop writing for those.
-- Locks: row locks on the tasks it updates (waits for a transaction holding one).
-- Guarantees: only rows still leased to p_worker change; nothing else is touched.
-- Edge cases: a lease that expired but has not been swept yet is still p_worker's and is
--   extended. Unknown ids are ignored.

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
