-- llmlb.note_reachable() RETURNS boolean
--
-- A call got an HTTP response: ends the backend outage recorded by note_unreachable(), so that
-- claim() grants tasks again at once. Returns whether an outage was recorded.
-- Locks: the row of llmlb.backend_state, only when an outage is recorded (else writes nothing).

CREATE OR REPLACE FUNCTION llmlb.note_reachable() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_n integer;
BEGIN
  UPDATE llmlb.backend_state SET unreachable_since = NULL, unreachable_until = NULL, failures = 0
   WHERE id AND unreachable_since IS NOT NULL;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n > 0;
END $$;
