-- Up Migration
-- The claim function (migration 0051) resolves its tables in the schema it was installed in, and
-- says who may call it instead of relying on PostgreSQL's defaults:
--  - search_path pinned to this schema (then pg_temp), as every other function of ours: a caller
--    whose search_path names another schema first still claims from these tables;
--  - EXECUTE granted to PUBLIC on purpose. The function is SECURITY INVOKER: it runs with the
--    caller's privileges, so calling it grants nothing the caller could not already do with the
--    statement (SELECT on the tables it reads, UPDATE on workspaces). Granted explicitly because a
--    database hardened with ALTER DEFAULT PRIVILEGES … REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC would
--    otherwise refuse every claim.
DO $$
BEGIN
  EXECUTE format(
    'ALTER FUNCTION prebuild_claim_workspace(uuid, text, timestamptz, text, timestamptz, bigint, boolean, uuid) SET search_path = %I, pg_temp',
    current_schema()
  );
END
$$;
GRANT EXECUTE ON FUNCTION
  prebuild_claim_workspace(uuid, text, timestamptz, text, timestamptz, bigint, boolean, uuid)
  TO PUBLIC;
