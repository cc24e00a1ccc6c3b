-- Up Migration
-- The claim's statement is planned once per session, at its first call (issue #16). PL/pgSQL
-- plans a statement with its parameters' values for the first five calls on a session, then
-- switches to the generic plan it keeps; those first calls each pay the planning the function
-- exists to save, and on a platform's connection pool they are the claims of every new
-- connection. The generic plan is the same access path (the template's unclaimed prebuilds,
-- each one's latest build; test/integration/claim.test.ts reads it on a fresh session). Measured
-- at fleet XL on PostgreSQL 15, 10 claimers × 200 claims, three pairs taking turns: p99 6.0–6.8
-- against 6.7–7.5 ms, p95 4.6–4.8 against 5.0–5.1 ms, p50 unchanged (2.4–2.6 ms). The function
-- already carries a SET clause (search_path, migration 0053), so a call costs nothing more.
ALTER FUNCTION
  prebuild_claim_workspace(uuid, text, timestamptz, text, timestamptz, bigint, boolean, uuid)
  SET plan_cache_mode = force_generic_plan;
