-- llmlb.touch_updated_at() RETURNS trigger, and its trigger models_touch on llmlb.models.
--
-- Stamps llmlb.models.updated_at with the database clock (clock_timestamp()) on every UPDATE of
-- a model row, whoever makes it (llmlb limits set, or plain SQL).
-- Locks: none beyond the row being updated. Re-creating the trigger takes an ACCESS EXCLUSIVE
--   lock on llmlb.models for the rest of the migrate transaction (claims wait for it briefly).
-- Edge cases: an UPDATE that sets updated_at explicitly is overridden. INSERTs use the column's
--   default (clock_timestamp()) instead.
CREATE OR REPLACE FUNCTION llmlb.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS models_touch ON llmlb.models;
CREATE TRIGGER models_touch BEFORE UPDATE ON llmlb.models
  FOR EACH ROW EXECUTE FUNCTION llmlb.touch_updated_at();
