// `--rpc host:port[,host:port…]` on `run` and `serve`: checked as the option is parsed, so a malformed
// endpoint is a usage error (exit 2) before any model is read.
import { InvalidArgumentError } from "commander";
import { StagebeamError } from "../errors.js";
import { parseRpcEndpoints } from "../rpc/endpoint.js";

export function rpcEndpoints(value: string): string[] {
  try {
    return parseRpcEndpoints(value);
  } catch (error) {
    if (error instanceof StagebeamError) throw new InvalidArgumentError(`--rpc: ${error.message}`);
    throw error;
  }
}
