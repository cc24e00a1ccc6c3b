// What `npm pack` puts in the tarball a platform installs (`npm install -g prebuildsd-<version>.tgz`,
// deploy/systemd/prebuildsd.service): the built code, every migration, the docs and deploy files,
// and nothing of the repository's tests, benchmarks or TypeScript sources (package.json "files").
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/projectRoot.ts";

function packedFiles(): string[] {
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: projectRoot,
    encoding: "utf8",
  });
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
  return (pack?.files ?? []).map((f) => f.path);
}

describe("the npm package", () => {
  it("holds the binary, every migration and the docs, and no tests, benchmarks or sources", () => {
    const files = packedFiles();
    expect(files).toContain("dist/src/cli/main.js");
    expect(files).toContain("dist/src/worker/index.d.ts");
    for (const migration of readdirSync(join(projectRoot, "migrations")))
      expect(files).toContain(`migrations/${migration}`);
    for (const doc of ["README.md", "CHANGELOG.md", "LICENSE", "docs/platform-contract.md"])
      expect(files).toContain(doc);
    expect(files).toContain("deploy/systemd/prebuildsd.service");
    const strays = files.filter((f) => /^(test|bench|src|queries|scratch)\//.test(f));
    expect(strays).toEqual([]);
  });
});
