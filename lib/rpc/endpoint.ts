// rpc-server endpoints as users write them ("host:port", or a comma-separated list on the command line),
// checked strictly before anything connects: ggml's own parser splits at the first ':' and aborts the
// process on what it cannot read.
import { createError } from "../errors.js";

/** A host name or IPv4 address: RFC 1123 labels, 253 characters at most. */
const HOST = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PORT = /^[1-9][0-9]{0,4}$/;

/** One endpoint, trimmed and checked: `host:port` with a port of 1 to 65535. */
export function parseRpcEndpoint(text: string): string {
  if (typeof text !== "string") throw invalid(String(text), "an endpoint must be a string");
  const endpoint = text.trim();
  // ggml's client splits at the first ':', so an IPv6 address cannot be written at all.
  if (endpoint.startsWith("[") || (endpoint.match(/:/g) ?? []).length > 1) {
    throw invalid(endpoint, "IPv6 addresses are not supported by ggml's RPC client: use a host name or an IPv4 address");
  }
  const colon = endpoint.lastIndexOf(":");
  if (colon < 0) throw invalid(endpoint, "the port is missing");
  const host = endpoint.slice(0, colon);
  const port = endpoint.slice(colon + 1);
  if (!HOST.test(host)) throw invalid(endpoint, "the host must be a host name or an IPv4 address");
  if (!PORT.test(port) || Number(port) > 65535) throw invalid(endpoint, "the port must be a number from 1 to 65535");
  return `${host}:${port}`;
}

/**
 * Endpoints from `loadModel({ rpc })` (an array) or `--rpc` (a comma-separated string): each checked,
 * at least one, none twice (ggml keeps one connection per endpoint, so a repeat would count one server twice).
 */
export function parseRpcEndpoints(list: string | readonly string[]): string[] {
  const items = typeof list === "string" ? list.split(",") : list;
  if (!Array.isArray(items) && typeof list !== "string") {
    throw createError("INVALID_RPC_ENDPOINT", "rpc must be an array of host:port strings");
  }
  const endpoints = items.map(parseRpcEndpoint);
  if (endpoints.length === 0) throw createError("INVALID_RPC_ENDPOINT", "rpc names no server: give at least one host:port");
  const repeated = endpoints.find((e, i) => endpoints.indexOf(e) !== i);
  if (repeated) throw createError("INVALID_RPC_ENDPOINT", `rpc names ${repeated} twice: list each server once`);
  return endpoints;
}

function invalid(endpoint: string, why: string) {
  return createError("INVALID_RPC_ENDPOINT", `not an rpc-server endpoint: ${JSON.stringify(endpoint)} (${why}; write host:port, e.g. 127.0.0.1:50052)`);
}
