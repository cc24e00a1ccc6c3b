// Every relative link in README.md, CHANGELOG.md and docs/*.md points at a file of the
// repository (issue #14: the README linked to DESIGN.md, which a clone does not have).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../../src/projectRoot.ts";

const documents = [
  "README.md",
  "CHANGELOG.md",
  ...readdirSync(join(projectRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** Markdown link targets `[text](target)` that are not URLs or in-page anchors. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => (m[1] as string).split("#")[0] as string)
    .filter((target) => target !== "" && !/^[a-z]+:/i.test(target));
}

describe("documentation links", () => {
  it.each(documents)("%s links only to files that exist", (document) => {
    const text = readFileSync(join(projectRoot, document), "utf8");
    const missing = relativeLinks(text).filter(
      (target) => !existsSync(join(projectRoot, dirname(document), target)),
    );
    expect(missing).toEqual([]);
    expect(text).not.toMatch(/DESIGN\.md/);
  });

  it("finds links (the check is not a no-op)", () => {
    expect(relativeLinks("see [x](docs/a.md#b) and [y](https://e.org) [z](#top)")).toEqual([
      "docs/a.md",
    ]);
  });
});
