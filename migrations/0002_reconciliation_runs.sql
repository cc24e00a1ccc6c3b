-- Up Migration
-- One row per reconciliation cycle that held the lock, so `prebuildsd status` can report the last
-- cycle from the database rather than from one process's memory. Pruned by the insert itself.

CREATE TABLE prebuild_reconciliation_runs (
  id bigserial PRIMARY KEY,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  -- 'completed' (every action attempted), 'paused' (reconciliation paused), 'failed' (the cycle
  -- itself could not run: snapshot or lock transaction error).
  outcome text NOT NULL CHECK (outcome IN ('completed', 'paused', 'failed')),
  -- Which process ran it (host name and pid), for operators running several replicas.
  replica text NOT NULL DEFAULT '',
  presets_total integer NOT NULL DEFAULT 0,
  presets_reconciled integer NOT NULL DEFAULT 0,
  actions_succeeded integer NOT NULL DEFAULT 0,
  actions_failed integer NOT NULL DEFAULT 0,
  actions_skipped integer NOT NULL DEFAULT 0,
  prebuilds_created integer NOT NULL DEFAULT 0,
  prebuilds_deleted integer NOT NULL DEFAULT 0,
  jobs_canceled integer NOT NULL DEFAULT 0,
  -- SQL statements the cycle sent (round trips), to show they do not grow with the preset count.
  statements integer NOT NULL DEFAULT 0,
  error text
);
CREATE INDEX prebuild_reconciliation_runs_finished_at_idx
  ON prebuild_reconciliation_runs (finished_at DESC);
