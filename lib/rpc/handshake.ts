// Asks an rpc-server, before ggml connects to it, whether it answers and speaks this build's protocol.
// ggml's client aborts the whole process when a connection is refused, the handshake fails or the
// versions differ (GGML_ABORT in rpc_dispatcher::start), and waits forever on a server that accepts but
// never answers (rpc-server serves one client at a time). This does the same HELLO exchange in JS, with
// a deadline, and asks for the device count (a server with none makes ggml return no devices).
import { Socket } from "node:net";
import { createError, type StagebeamError } from "../errors.js";

/** The wire format (ggml/src/ggml-rpc/ggml-rpc.cpp): | cmd: u8 | size: u64 LE | payload |, answered | size: u64 LE | payload |. */
const RPC_CMD_HELLO = 14;
const RPC_CMD_DEVICE_COUNT = 15;
/** rpc_msg_hello_req: conn_caps[24] (all zero: no transport upgrade). rpc_msg_hello_rsp: major, minor, patch, padding, conn_caps[24]. */
const CONN_CAPS_SIZE = 24;
const HELLO_RESPONSE_SIZE = 4 + CONN_CAPS_SIZE;

export interface RpcProtocol {
  major: number;
  minor: number;
}

export interface RpcServerInfo {
  endpoint: string;
  version: string;
  devices: number;
}

/**
 * Resolves with the server's version and device count, or rejects with RPC_UNREACHABLE (refused, no
 * answer within `timeoutMs`, unknown host) or RPC_PROTOCOL_MISMATCH (something answered, but not an
 * rpc-server ggml here can talk to). `endpoint` must already be checked (parseRpcEndpoint).
 */
export function probeRpcServer(endpoint: string, protocol: RpcProtocol, timeoutMs: number): Promise<RpcServerInfo> {
  const colon = endpoint.lastIndexOf(":");
  const host = endpoint.slice(0, colon);
  const port = Number(endpoint.slice(colon + 1));
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    let version = "";
    let settled = false;
    const finish = (error: StagebeamError | null, info?: RpcServerInfo) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve(info!);
    };
    const unreachable = (why: string) =>
      createError("RPC_UNREACHABLE", `the rpc-server at ${endpoint} ${why}: start it there (stagebeam rpc-server --host … --port ${port}) and check the address`);
    const mismatch = (why: string) =>
      createError(
        "RPC_PROTOCOL_MISMATCH",
        `${endpoint} ${why}: it is not an rpc-server of RPC protocol ${protocol.major}.${protocol.minor}; run the rpc-server built with this stagebeam (stagebeam rpc-server)`,
      );

    socket.setNoDelay(true);
    socket.setTimeout(timeoutMs, () =>
      finish(unreachable(`did not answer within ${timeoutMs} ms (rpc-server serves one client at a time: is another process using it?)`)),
    );
    socket.on("error", (error: NodeJS.ErrnoException) => {
      const why =
        error.code === "ECONNREFUSED" ? "refused the connection (nothing listens on that port)"
        : error.code === "ENOTFOUND" || error.code === "EAI_AGAIN" ? "cannot be found (unknown host)"
        : `cannot be reached (${error.code ?? error.message})`;
      finish(unreachable(why));
    });
    socket.on("close", () => finish(mismatch("closed the connection during the handshake")));
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (!version) {
        if (received.length < 8) return;
        const size = received.readBigUInt64LE(0);
        if (size !== BigInt(HELLO_RESPONSE_SIZE)) return finish(mismatch("answered the handshake with a message of the wrong size"));
        if (received.length < 8 + HELLO_RESPONSE_SIZE) return;
        const [major, minor, patch] = [received[8], received[9], received[10]];
        version = `${major}.${minor}.${patch}`;
        if (major !== protocol.major || minor > protocol.minor) return finish(mismatch(`speaks RPC protocol ${version}`));
        received = received.subarray(8 + HELLO_RESPONSE_SIZE);
        socket.write(command(RPC_CMD_DEVICE_COUNT, Buffer.alloc(0)));
      }
      if (received.length < 12) return;
      if (received.readBigUInt64LE(0) !== 4n) return finish(mismatch("answered the device count with a message of the wrong size"));
      const devices = received.readUInt32LE(8);
      if (devices === 0) return finish(unreachable("offers no devices"));
      finish(null, { endpoint, version, devices });
    });
    socket.connect(port, host, () => socket.write(command(RPC_CMD_HELLO, Buffer.alloc(CONN_CAPS_SIZE))));
  });
}

function command(cmd: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUInt8(cmd, 0);
  header.writeBigUInt64LE(BigInt(payload.length), 1);
  return Buffer.concat([header, payload]);
}
