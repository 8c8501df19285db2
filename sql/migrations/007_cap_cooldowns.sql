-- A 429 cooldown lasts at most an hour (llmlb.note_rate_limited caps new ones). Cooldowns that
-- earlier releases wrote from an unbounded Retry-After (e.g. until 2058) are cut to an hour from
-- now, so that no model stays blocked for years.
UPDATE llmlb.quota
   SET cooldown_until = clock_timestamp() + interval '1 hour'
 WHERE cooldown_until > clock_timestamp() + interval '1 hour';
