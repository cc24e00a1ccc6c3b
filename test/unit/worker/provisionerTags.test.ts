// The pure tag rules (Coder's MutateTags and provisioner_tagset_contains) and the tag list syntax
// of PREBUILDS_PROVISIONER_TAGS.
import { describe, expect, it } from "vitest";
import { normalizeTags, parseTags, tagsSatisfy } from "../../../src/worker/provisionerTags.ts";
import { TAG_CASES } from "../../fixtures/tagCases.ts";

describe("tagsSatisfy", () => {
  for (const c of TAG_CASES) {
    it(`${c.matches ? "runs" : "does not run"}: ${c.name}`, () => {
      expect(tagsSatisfy(c.provisioner, c.job)).toBe(c.matches);
    });
  }
});

describe("normalizeTags", () => {
  it("adds organization scope and an empty owner to tags without a scope", () => {
    expect(normalizeTags({ env: "prod" })).toEqual({
      env: "prod",
      scope: "organization",
      owner: "",
    });
  });
  it("clears the owner of an organization-scoped set and turns an unknown scope into organization", () => {
    expect(normalizeTags({ scope: "organization", owner: "x" })).toEqual({
      scope: "organization",
      owner: "",
    });
    expect(normalizeTags({ scope: "team" })).toEqual({ scope: "organization", owner: "" });
  });
  it("keeps a user scope's owner, or fills in the given one", () => {
    expect(normalizeTags({ scope: "user", owner: "u1" }, "u2")).toEqual({
      scope: "user",
      owner: "u1",
    });
    expect(normalizeTags({ scope: "user" }, "u2")).toEqual({ scope: "user", owner: "u2" });
  });
});

describe("parseTags", () => {
  it("reads key=value pairs, trimming around keys and values", () => {
    expect(parseTags("is_prebuild=true, region = eu")).toEqual({
      is_prebuild: "true",
      region: "eu",
    });
    expect(parseTags("")).toEqual({});
    expect(parseTags("empty=")).toEqual({ empty: "" });
  });
  it("refuses an entry without '=', an empty key, or a repeated key", () => {
    expect(parseTags("is_prebuild")).toBeNull();
    expect(parseTags("=true")).toBeNull();
    expect(parseTags("a=1,a=2")).toBeNull();
    expect(parseTags("a=1,")).toBeNull();
  });
});
