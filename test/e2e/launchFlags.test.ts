// The Node.js flags an installed `prebuildsd` runs with come from its shebang line
// (src/cli/launchFlags.ts says why): the source's and the built binary's first line name exactly
// LAUNCH_NODE_FLAGS, and that line works the way the kernel runs it (`env -S` splits it).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { LAUNCH_NODE_FLAGS, launchShebang, missingLaunchFlags } from "../../src/cli/launchFlags.ts";
import { projectRoot } from "../../src/projectRoot.ts";
import { BIN } from "./cli.ts";

const firstLine = (path: string) => readFileSync(path, "utf8").split("\n", 1)[0];

describe("prebuildsd's launch flags", () => {
  it("are what the source's and the built binary's shebang lines pass to node", () => {
    expect(LAUNCH_NODE_FLAGS).toEqual(["--max-semi-space-size=4", "--heap-growing-percent=50"]);
    expect(firstLine(join(projectRoot, "src", "cli", "main.ts"))).toBe(launchShebang());
    expect(firstLine(BIN)).toBe(launchShebang());
  });

  it("are what the package's scripts that run the source pass to node", () => {
    const { scripts } = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const running = Object.entries(scripts).filter(([, command]) =>
      command.includes("src/cli/main.ts"),
    );
    expect(running.map(([name]) => name).sort()).toEqual(["migrate", "prebuildsd", "start"]);
    for (const [name, command] of running) {
      expect({ name, command }).toEqual({
        name,
        command: expect.stringMatching(
          new RegExp(`^exec node ${LAUNCH_NODE_FLAGS.join(" ")} src/cli/main\\.ts\\b`),
        ),
      });
    }
  });

  it("are what the benchmark runs with, so that its cycle times are an installed prebuildsd's", () => {
    const { scripts } = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(scripts.bench).toBe(`node ${LAUNCH_NODE_FLAGS.join(" ")} bench/run.ts`);
  });

  it("start the binary when the shebang line is run as the kernel runs it", () => {
    // The kernel passes everything after the interpreter as one argument, then the script.
    const [interpreter, ...rest] = launchShebang().slice(2).split(" ");
    const node = join(projectRoot, "node_modules", ".bin", "node");
    const result = spawnSync(interpreter ?? "", [rest.join(" "), BIN, "--version"], {
      env: { PATH: `${dirname(node)}:${process.env.PATH ?? ""}`, HOME: process.env.HOME },
      encoding: "utf8",
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("start the built binary run directly, as an installed or linked `prebuildsd` is (npm run build sets its executable bit)", () => {
    expect((statSync(BIN).mode & 0o111).toString(8)).toBe("111");
    const node = join(projectRoot, "node_modules", ".bin", "node");
    const result = spawnSync(BIN, ["--version"], {
      env: { PATH: `${dirname(node)}:${process.env.PATH ?? ""}`, HOME: process.env.HOME },
      encoding: "utf8",
    });
    expect(result.error).toBeUndefined();
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("are named when missing from a process's flags, by name (another value is the operator's choice)", () => {
    expect(missingLaunchFlags([...LAUNCH_NODE_FLAGS])).toEqual([]);
    expect(missingLaunchFlags([])).toEqual([...LAUNCH_NODE_FLAGS]);
    expect(missingLaunchFlags(["--max-semi-space-size=8", "--enable-source-maps"])).toEqual([
      "--heap-growing-percent=50",
    ]);
  });

  it("are missed out loud by `run` started as `node main.js` without them", async () => {
    const node = join(projectRoot, "node_modules", ".bin", "node");
    const child = spawn(node, [BIN, "run", "--http-address", "127.0.0.1:0"], {
      // Nothing listens on port 1: the daemon waits for its database, after the warning.
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
        PREBUILDS_LOG_FORMAT: "json",
      },
      stdio: "pipe",
    });
    try {
      const warning = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let output = "";
        const timer = setTimeout(() => reject(new Error(`no warning in:\n${output}`)), 20_000);
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          for (const line of output.split("\n")) {
            if (!line.includes("launch flags") || !line.endsWith("}")) continue;
            clearTimeout(timer);
            resolve(JSON.parse(line) as Record<string, unknown>);
          }
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
      });
      expect(warning.level).toBe(40);
      expect(warning.missing).toBe(LAUNCH_NODE_FLAGS.join(" "));
      expect(String(warning.msg)).toContain(
        `node ${LAUNCH_NODE_FLAGS.join(" ")} dist/src/cli/main.js`,
      );
    } finally {
      child.kill("SIGKILL");
    }
  });
});
