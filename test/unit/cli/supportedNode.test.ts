// Which Node.js versions the CLI accepts: package.json's `engines.node`, read with semver.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { supportedNodeRange, unsupportedNodeMessage } from "../../../src/cli/supportedNode.ts";
import { projectRoot } from "../../../src/projectRoot.ts";

describe("unsupportedNodeMessage", () => {
  it.each([
    ["v24.21.0", ">=22.19"],
    ["v22.19.0", ">=22.19"],
    ["v23.0.0", ">=22.19"],
    ["v26.0.0-nightly20260101abcdef", ">=22.19"],
    ["v25.0.0-rc.1", ">=22.19"],
    ["v22.20.0", "^22.19 || >=24"],
  ])("accepts %s for %s", (running, range) => {
    expect(unsupportedNodeMessage(running, range)).toBeNull();
  });

  it.each([
    ["v20.20.2", ">=22.19"],
    ["v22.18.1", ">=22.19"],
    ["v18.20.0", ">=22.19"],
    ["v23.1.0", "^22.19 || >=24"],
  ])("refuses %s for %s", (running, range) => {
    expect(unsupportedNodeMessage(running, range)).toBe(
      `Node.js ${running} is not supported: prebuildsd needs Node.js ${range} (package.json "engines"); install a Node.js in that range (e.g. the current LTS) and run prebuildsd with it`,
    );
  });

  it("checks nothing when package.json gives no range", () => {
    expect(unsupportedNodeMessage("v20.20.2", undefined)).toBeNull();
  });
});

describe("supportedNodeRange", () => {
  it("is package.json's engines.node, which the Node.js running the tests satisfies", () => {
    const pkg = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as {
      engines: { node: string };
    };
    expect(supportedNodeRange()).toBe(pkg.engines.node);
    expect(unsupportedNodeMessage(process.version, supportedNodeRange())).toBeNull();
  });

  it.each([
    ["no package.json", null],
    ["no engines", { name: "x" }],
    ["engines without node", { engines: { npm: ">=10" } }],
    ["a range that is not text", { engines: { node: 22 } }],
  ])("is undefined (nothing checked) with %s", async (_, content) => {
    const dir = await mkdtemp(join(tmpdir(), "prebuildsd-engines-"));
    try {
      const path = join(dir, "package.json");
      if (content !== null) await writeFile(path, JSON.stringify(content));
      expect(supportedNodeRange(path)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
