// Bad command-line input and configuration, as an operator would mistype them: the built binary
// exits 2 with one line naming the problem (and 1 only when the runtime, not the input, fails).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../e2e/cli.ts";
import { seedTemplate } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

let db: TestDatabase;
let templateId: string;

beforeAll(async () => {
  db = await freshDatabase();
  templateId = (await seedTemplate(db.pool, { name: "tpl" })).templateId;
});

afterAll(async () => {
  await db?.drop();
});

describe("bad input", () => {
  const cases: {
    name: string;
    args: () => string[];
    env?: Record<string, string>;
    stderr: RegExp;
  }[] = [
    {
      name: "an unknown command",
      args: () => ["frobnicate"],
      stderr: /unknown command 'frobnicate'/,
    },
    {
      name: "an unknown option",
      args: () => ["run", "--intervall", "5s"],
      stderr: /unknown option '--intervall'/,
    },
    {
      name: "a missing argument",
      args: () => ["promote", "tpl"],
      stderr: /missing required argument 'version'/,
    },
    {
      name: "reconcile without --once",
      args: () => ["reconcile"],
      stderr: /required option '--once/,
    },
    {
      name: "a flag without its value",
      args: () => ["status", "--lock-timeout"],
      stderr: /--lock-timeout <value>' argument missing/,
    },
    {
      name: "plan --at that is not a time",
      args: () => ["plan", "--at", "yesterday"],
      stderr: /--at/,
    },
    {
      name: "a lock timeout PostgreSQL would refuse",
      args: () => ["status"],
      env: { PREBUILDS_LOCK_TIMEOUT: "9999h" },
      stderr:
        /^prebuildsd: PREBUILDS_LOCK_TIMEOUT must be a duration from 0 \(disabled\) to 24 days/,
    },
    {
      name: "a statement timeout given as a flag",
      args: () => ["reconcile", "--once", "--statement-timeout", "soon"],
      stderr: /^prebuildsd: --statement-timeout must be a duration/,
    },
    {
      name: "a template that does not exist",
      args: () => ["promote", "nope", "v1"],
      stderr:
        /no template is named or has the id "nope" \(deleted templates excluded\); `prebuildsd plan` lists the templates/,
    },
    {
      name: "a version that does not exist",
      args: () => ["promote", templateId, "v9"],
      stderr: /has no version named or with the id "v9"/,
    },
    {
      name: "invalidate of a template that does not exist",
      args: () => ["invalidate", "nope"],
      stderr: /no template is named/,
    },
    {
      name: "cancel-policy of a template that does not exist",
      args: () => ["cancel-policy", "nope", "retain"],
      stderr: /^prebuildsd: no template is named or has the id "nope"/,
    },
    {
      name: "cancel-policy with an unknown policy",
      args: () => ["cancel-policy", templateId, "sometimes"],
      stderr:
        /^prebuildsd: cancel policy must be one of pending, retain, running \(got "sometimes"\)\n$/,
    },
  ];

  it.each(cases)("exits 2 naming the problem: $name", async (c) => {
    const result = await cli(c.args(), {
      DATABASE_URL: db.url,
      PREBUILDS_LOG_LEVEL: "warn",
      ...c.env,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(c.stderr);
    expect(result.stdout).toBe("");
    // Nothing changed: the template keeps the default cancel policy (issue #13).
    const policy = await db.pool.query("SELECT prebuild_cancel_policy FROM templates");
    expect(policy.rows).toEqual([{ prebuild_cancel_policy: "pending" }]);
  });
});
