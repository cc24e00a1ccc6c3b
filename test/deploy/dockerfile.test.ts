// The Dockerfile, parsed and linted with dockerfile-ast / dockerfile-utils (no Docker engine is
// needed): multi-stage on Node 24 slim, a non-root user, `prebuildsd run` as the entry point,
// the daemon's default port exposed, and only files that exist and are not .dockerignored copied.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { launchShebang } from "../../src/cli/launchFlags.ts";
import { projectRoot } from "../../src/projectRoot.ts";
import { defaultHttpPort } from "./manifests.ts";

const text = readFileSync(join(projectRoot, "Dockerfile"), "utf8");
const dockerfile = DockerfileParser.parse(text);
const froms = dockerfile.getFROMs();
const lastFrom = froms.at(-1);
const stageOf = (i: Instruction) =>
  froms.filter((f) => f.getRange().start.line <= i.getRange().start.line).length - 1;
const finalStage = dockerfile.getInstructions().filter((i) => stageOf(i) === froms.length - 1);
const buildStages = dockerfile.getInstructions().filter((i) => stageOf(i) < froms.length - 1);
const keyword = (list: readonly Instruction[], k: string) =>
  list.filter((i) => i.getKeyword() === k);
const args = (i: Instruction | undefined) => i?.getArgumentsContent() ?? "";
const execForm = (i: Instruction | undefined): string[] => JSON.parse(args(i)) as string[];

describe("Dockerfile", () => {
  it("has no lint problems (dockerfile-utils)", () => {
    expect(validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    // The linter is live: it flags a second CMD.
    expect(validate(`${text}\nCMD ["x"]\n`).length).toBeGreaterThan(0);
  });

  it("is multi-stage on Node 24 slim", () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      expect(from.getImageName()).toBe("node");
      expect(from.getImageTag()).toMatch(/^24(\.\d+)*-(\w+-)?slim$/);
    }
    expect(froms.slice(0, -1).every((f) => f.getBuildStage() !== null)).toBe(true);
    expect(lastFrom?.getBuildStage()).toBeNull();
  });

  it("builds with npm ci and the project's build script, shipping no dev dependencies", () => {
    const runs = keyword(buildStages, "RUN").map(args).join("\n");
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build\b/);
    expect(runs).toMatch(/npm prune --omit=dev\b/);
    const copiedFromBuild = keyword(finalStage, "COPY").filter((c) =>
      /--from=/.test(c.getTextContent()),
    );
    expect(copiedFromBuild.map(args).join("\n")).toMatch(/node_modules/);
    expect(copiedFromBuild.map(args).join("\n")).toMatch(/dist/);
  });

  it("runs as a non-root user", () => {
    const users = keyword(finalStage, "USER");
    expect(users.length).toBeGreaterThan(0);
    expect(args(users.at(-1)).split(":")[0]).not.toMatch(/^(root|0)$/);
  });

  it("enters as `prebuildsd run`, the package's bin, and exposes the daemon's default port", () => {
    const [entrypoint] = keyword(finalStage, "ENTRYPOINT");
    const [cmd] = keyword(finalStage, "CMD");
    expect([...execForm(entrypoint), ...execForm(cmd)]).toEqual(["prebuildsd", "run"]);
    const bin = (
      JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as {
        bin: { prebuildsd: string };
      }
    ).bin.prebuildsd;
    expect(keyword(finalStage, "RUN").map(args).join("\n")).toContain(
      `ln -s /app/${bin} /usr/local/bin/prebuildsd`,
    );
    // Run through a symlink, the compiled entry point needs its shebang (`npm test` builds first),
    // which carries prebuildsd's launch flags (src/cli/launchFlags.ts).
    expect(readFileSync(join(projectRoot, bin), "utf8").split("\n")[0]).toBe(launchShebang());
    expect(keyword(finalStage, "EXPOSE").map(args)).toEqual([String(defaultHttpPort())]);
    expect(keyword(finalStage, "COPY").map(args)).toContain("migrations ./migrations");
  });

  it("copies only files that exist and that .dockerignore lets through", () => {
    const ignored = readFileSync(join(projectRoot, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    const sources = keyword(dockerfile.getInstructions(), "COPY")
      .filter((c) => !/--from=/.test(c.getTextContent()))
      .flatMap((c) => args(c).split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(projectRoot, source)), source).toBe(true);
      expect(
        ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
        source,
      ).toBe(false);
    }
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist"]));
  });
});
