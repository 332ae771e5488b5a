#!/usr/bin/env node
// Provisions the pinned llama.cpp source into ./llama.cpp.
//
// The only registry copy of upstream llama.cpp reachable from our machines is the git bundle that
// node-llama-cpp ships inside its npm package, so we `npm pack` that exact version, check the bundle's
// sha256, clone it and verify the commit. The pin lives in package.json ("stagebeam.llamaCpp").
// Idempotent: once llama.cpp/ is at the pinned commit this does nothing and needs no network.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pin = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).stagebeam.llamaCpp;
const target = join(root, "llama.cpp");

function git(args, cwd = target) {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function currentCommit() {
  if (!existsSync(join(target, ".git"))) return null;
  try {
    return git(["rev-parse", "HEAD"]);
  } catch {
    return null;
  }
}

export function fetchLlama({ log = console.error } = {}) {
  const have = currentCommit();
  if (have === pin.commit) {
    return target;
  }
  if (have !== null || existsSync(target)) {
    throw new Error(
      `llama.cpp/ exists but is not at the pinned commit ${pin.commit} (found ${have ?? "no git checkout"}). ` +
        `Remove llama.cpp/ and run again.`,
    );
  }

  const work = mkdtempSync(join(tmpdir(), "stagebeam-llama-"));
  try {
    log(`stagebeam: fetching llama.cpp ${pin.release} (${pin.commit.slice(0, 12)}) from ${pin.npmPackage}`);
    const tarball = execFileSync("npm", ["pack", pin.npmPackage, "--silent", "--pack-destination", work], {
      cwd: work,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    })
      .trim()
      .split("\n")
      .pop();
    execFileSync("tar", ["-xzf", join(work, tarball), "-C", work, pin.bundlePath], { stdio: "inherit" });
    const bundle = join(work, pin.bundlePath);

    const sha256 = createHash("sha256").update(readFileSync(bundle)).digest("hex");
    if (sha256 !== pin.bundleSha256) {
      throw new Error(`llama.cpp bundle checksum mismatch: expected ${pin.bundleSha256}, got ${sha256}`);
    }

    git(["clone", "--quiet", "--no-checkout", bundle, target], work);
    git(["-c", "advice.detachedHead=false", "checkout", "--quiet", pin.commit]);
    const got = currentCommit();
    if (got !== pin.commit) {
      rmSync(target, { recursive: true, force: true });
      throw new Error(`llama.cpp checkout is at ${got}, expected ${pin.commit}`);
    }
    log(`stagebeam: llama.cpp ready at ${target}`);
    return target;
  } catch (error) {
    if (currentCommit() !== pin.commit) rmSync(target, { recursive: true, force: true });
    throw error;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    fetchLlama();
  } catch (error) {
    console.error(`stagebeam: ${error.message}`);
    process.exit(1);
  }
}
