import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { llamaCppDir, repoRoot } from "../fixtures/models.js";

const pin = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).stagebeam.llamaCpp;

test("llama.cpp is checked out at the commit pinned in package.json", () => {
  const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: llamaCppDir, encoding: "utf8" }).trim();
  expect(head).toBe(pin.commit);
  expect(pin.commit).toBe("80fb11ac73e66d89eae2c6a91d8a77428fa733ed");
});

test("provisioning again is a no-op that needs no network", async () => {
  const { fetchLlama } = await import("../../scripts/fetch-llama.mjs");
  const messages: string[] = [];
  // npm pack is the only network step; an unreachable registry makes any attempt fail loudly.
  const saved = process.env.npm_config_registry;
  process.env.npm_config_registry = "http://127.0.0.1:9/";
  try {
    expect(fetchLlama({ log: (m: string) => messages.push(m) })).toBe(llamaCppDir);
  } finally {
    if (saved === undefined) delete process.env.npm_config_registry;
    else process.env.npm_config_registry = saved;
  }
  expect(messages).toEqual([]);
});
