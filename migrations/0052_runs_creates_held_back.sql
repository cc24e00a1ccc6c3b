-- Up Migration
-- What the in-flight cap (PREBUILDS_MAX_INFLIGHT_JOBS, issue #13) held back in each cycle, so
-- `status` and the status page can say "3 creates held back by the in-flight cap (7 of 10 jobs in
-- flight)" for the last cycle, whichever replica ran it. inflight_jobs and inflight_cap are the
-- numbers the cycle planned with; NULL when it held nothing back.
ALTER TABLE prebuild_reconciliation_runs
  ADD COLUMN creates_held_back integer NOT NULL DEFAULT 0,
  ADD COLUMN inflight_jobs integer,
  ADD COLUMN inflight_cap integer;
