// Wording that used to mislead (issue #14), pinned down.
import { describe, expect, it } from "vitest";
import { withLibpqSslMode } from "../../../src/db/connectionString.ts";
import { describeOrphanDeletes } from "../../../src/execute/executePreset.ts";

describe("orphan deletes after cancelling pending jobs", () => {
  it.each([
    [3, 0, "orphan-deleted 3 workspace(s) (delete builds queued for the provisioners)"],
    [
      3,
      3,
      "orphan-deleted 3 workspace(s) at once (no provisioner seen recently to run delete builds)",
    ],
    [
      3,
      1,
      "orphan-deleted 3 workspace(s): 2 as delete builds queued for the provisioners, 1 at once (no provisioner seen recently to run them)",
    ],
  ])("%i orphans, %i at once", (total, atOnce, text) => {
    expect(describeOrphanDeletes(total, atOnce)).toBe(text);
    expect(describeOrphanDeletes(total, atOnce)).not.toMatch(/0 at once|no live provisioner/);
  });

  it("names free deletes of never-provisioned prebuilds apart from those with no provisioner (issue #13)", () => {
    expect(describeOrphanDeletes(3, 3, 3)).toBe(
      "orphan-deleted 3 workspace(s): 3 at once (never provisioned: no queue slot, no provisioner)",
    );
    expect(describeOrphanDeletes(4, 3, 2)).toBe(
      "orphan-deleted 4 workspace(s): 2 at once (never provisioned: no queue slot, no provisioner), 1 at once (no provisioner seen recently to run delete builds), 1 as delete builds queued for the provisioners",
    );
  });
});

describe("sslmode in DATABASE_URL", () => {
  it.each([
    ["postgres://u@h/db?sslmode=require", "postgres://u@h/db?sslmode=require&uselibpqcompat=true"],
    ["postgres://u@h/db?sslmode=prefer", "postgres://u@h/db?sslmode=prefer&uselibpqcompat=true"],
    [
      "postgres://u@h/db?sslmode=verify-ca",
      "postgres://u@h/db?sslmode=verify-ca&uselibpqcompat=true",
    ],
    ["postgres://u@h/db?sslmode=verify-full", "postgres://u@h/db?sslmode=verify-full"],
    ["postgres://u@h/db?sslmode=disable", "postgres://u@h/db?sslmode=disable"],
    [
      "postgres://u@h/db?sslmode=require&uselibpqcompat=false",
      "postgres://u@h/db?sslmode=require&uselibpqcompat=false",
    ],
    ["postgres://u@h/db", "postgres://u@h/db"],
  ])("%s is read as libpq reads it", (given, used) => {
    expect(withLibpqSslMode(given)).toBe(used);
  });
});
