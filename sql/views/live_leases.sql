-- llmlb.live_leases: the tasks in flight, the one definition of "in flight".
--
-- Columns: task_id (tasks.id), model (the model the task was sent to, tasks.lease_model),
--   worker (tasks.lease_owner), token (tasks.lease_token), leased_at, expires_at
--   (tasks.lease_expires_at).
-- Rows: tasks holding a lease (lease_token IS NOT NULL) that has not expired on the database
--   clock (lease_expires_at > clock_timestamp(), evaluated per row as it is read). A lease that
--   expired but has not been swept yet is not in flight: its slot is free for claim(), and
--   sweep() will return the task to the pool.
-- Cost: a query that filters on model reads tasks_llmlb_leased_idx (model, then expiry as a
--   filter: clock_timestamp() is volatile and cannot be an index bound); without a model filter,
--   the same partial index or tasks_llmlb_lease_expiry_idx. Neither reads unleased tasks.
-- Locks: none (a plain view; readers see their snapshot).
-- Used by: claim() for max_inflight. Status, report and progress should count in-flight tasks
--   here too, so that every figure agrees with what claim() enforces.
CREATE OR REPLACE VIEW llmlb.live_leases AS
  SELECT t.id AS task_id, t.lease_model AS model, t.lease_owner AS worker,
         t.lease_token AS token, t.leased_at, t.lease_expires_at AS expires_at
    FROM public.tasks t
   WHERE t.lease_token IS NOT NULL AND t.lease_expires_at > clock_timestamp();
