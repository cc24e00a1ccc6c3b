import { describe, expect, it } from "vitest";
import { newPrebuildName } from "../../../src/execute/prebuildName.ts";

describe("newPrebuildName", () => {
  it("is prebuild- and 15 lowercase base32 characters (72 random bits, no padding)", () => {
    for (let i = 0; i < 200; i++) expect(newPrebuildName()).toMatch(/^prebuild-[a-z2-7]{15}$/);
  });

  it("does not repeat across 10,000 names", () => {
    const names = new Set(Array.from({ length: 10_000 }, newPrebuildName));
    expect(names.size).toBe(10_000);
  });
});
