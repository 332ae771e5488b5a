// Where llama.cpp's rpc-server sits: built from the same sources as the addon (so it speaks the same
// RPC protocol version) and copied beside it, with the ggml libraries and backends it loads.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createError } from "../errors.js";
import { addonDirectory } from "../native.js";

export function rpcServerBinary(): string {
  const dir = addonDirectory();
  const path = join(dir, process.platform === "win32" ? "ggml-rpc-server.exe" : "ggml-rpc-server");
  if (!existsSync(path)) {
    throw createError("RPC_UNSUPPORTED", `llama.cpp's rpc-server is not beside the addon in ${dir}: this build has no RPC backend; rebuild with npm run build:native`);
  }
  return path;
}
