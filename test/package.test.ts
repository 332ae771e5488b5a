// The package as users get it: prebuildify's addon with the llama.cpp libraries, CPU modules and rpc-server
// beside it, packed by npm, installed into an empty project, running `stagebeam demo` with nothing compiled.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { repoRoot } from "./fixtures/models.js";

const npm = (args: string[], cwd: string) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

test("the packed tarball installs into an empty project and runs the demo without compiling", () => {
  npm(["run", "prebuild:package"], repoRoot);
  const prebuild = join(repoRoot, "prebuilds", `${process.platform}-${process.arch}`);
  const files = readdirSync(prebuild);
  expect(files.filter((f) => f.endsWith(".node"))).toHaveLength(1);
  expect(files.filter((f) => f.startsWith("libggml-cpu-")).length).toBeGreaterThan(1); // every CPU variant
  for (const lib of ["libllama.so", "libggml.so", "libggml-base.so", "libmtmd.so", "libggml-rpc.so", "ggml-rpc-server"]) expect(files).toContain(lib);

  const work = mkdtempSync(join(tmpdir(), "stagebeam-package-"));
  try {
    const tarball = npm(["pack", "--silent", "--pack-destination", work], repoRoot).trim().split("\n").pop()!;
    const listing = execFileSync("tar", ["tzf", join(work, tarball)], { encoding: "utf8" });
    expect(listing).toContain(`package/prebuilds/${process.platform}-${process.arch}/stagebeam.node`);
    expect(listing).toContain("package/dist/cli/main.js");
    expect(listing).toContain("package/assets/ggml-vocab-llama-spm.gguf");
    expect(listing).not.toContain("package/llama.cpp/");

    const project = join(work, "project");
    execFileSync("mkdir", ["-p", project]);
    npm(["init", "-y"], project);
    npm(["install", "--no-audit", "--no-fund", join(work, tarball)], project);
    const installed = join(project, "node_modules", "stagebeam");
    const demo = spawnSync(join(project, "node_modules", ".bin", "stagebeam"), ["demo"], {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, STAGEBEAM_CACHE: join(work, "cache"), NO_COLOR: "1" },
      timeout: 120_000,
    });
    expect(demo.stderr).toContain("image encodes: 1");
    expect(demo.status).toBe(0);
    expect(demo.stdout).toMatch(/^SUMMARY: .+\nCAPTION: .+\nREASONING: .+\nCONCLUSION: .+\n$/);
    expect(existsSync(join(installed, "build"))).toBe(false); // nothing was compiled
    // llama.cpp's rpc-server shipped beside the addon runs from there (executable, finds its libraries).
    const rpcServer = spawnSync(join(installed, "prebuilds", `${process.platform}-${process.arch}`, "ggml-rpc-server"), ["--help"], { encoding: "utf8" });
    expect(rpcServer.status, rpcServer.stderr).toBe(0);
    expect(rpcServer.stderr).toContain("--port");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 300_000);
