import { describe, expect, test } from "vitest";
import { StagebeamError } from "../../lib/errors.js";
import { parseRpcEndpoint, parseRpcEndpoints } from "../../lib/rpc/endpoint.js";

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(StagebeamError);
    return (error as StagebeamError).code;
  }
  return undefined;
};

describe("parseRpcEndpoint", () => {
  test("host names and IPv4 addresses with a port of 1 to 65535", () => {
    expect(parseRpcEndpoint("127.0.0.1:50052")).toBe("127.0.0.1:50052");
    expect(parseRpcEndpoint(" gpu-box.lan:1 ")).toBe("gpu-box.lan:1");
    expect(parseRpcEndpoint("localhost:65535")).toBe("localhost:65535");
  });

  test.each([
    ["no port", "127.0.0.1"],
    ["empty port", "127.0.0.1:"],
    ["port 0", "127.0.0.1:0"],
    ["port past 65535", "127.0.0.1:65536"],
    ["leading zero", "127.0.0.1:050052"],
    ["sign", "127.0.0.1:+80"],
    ["trailing junk", "127.0.0.1:80abc"],
    ["no host", ":50052"],
    ["space in the host", "my host:50052"],
    ["scheme", "tcp://127.0.0.1:50052"],
    ["IPv6", "[::1]:50052"],
    ["bare IPv6", "::1:50052"],
    ["empty", ""],
  ])("refuses %s (%j) with INVALID_RPC_ENDPOINT", (_, endpoint) => {
    expect(code(() => parseRpcEndpoint(endpoint))).toBe("INVALID_RPC_ENDPOINT");
  });
});

describe("parseRpcEndpoints", () => {
  test("a comma-separated list (--rpc) or an array (loadModel)", () => {
    expect(parseRpcEndpoints("a:1,b:2")).toEqual(["a:1", "b:2"]);
    expect(parseRpcEndpoints(["a:1", "b:2"])).toEqual(["a:1", "b:2"]);
  });

  test("refuses an empty list, an empty item, a repeated server and a non-array", () => {
    expect(code(() => parseRpcEndpoints([]))).toBe("INVALID_RPC_ENDPOINT");
    expect(code(() => parseRpcEndpoints("a:1,,b:2"))).toBe("INVALID_RPC_ENDPOINT");
    expect(code(() => parseRpcEndpoints("a:1,a:1"))).toBe("INVALID_RPC_ENDPOINT");
    expect(code(() => parseRpcEndpoints(42 as unknown as string[]))).toBe("INVALID_RPC_ENDPOINT");
    expect(code(() => parseRpcEndpoints([7] as unknown as string[]))).toBe("INVALID_RPC_ENDPOINT");
  });
});
