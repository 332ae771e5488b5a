// One download of a blob at a time: two stagebeam processes appending to the same blobs/<etag>.incomplete
// would corrupt it (the checksum would catch it, but only after both had downloaded everything, and the
// partial file would be thrown away). The lock is a file created exclusively, holding its owner's pid, in
// the cache's .locks folder beside huggingface_hub's own locks (under another name: Python's locks are
// flock()ed files it truncates, ours are claimed by creating them). A lock whose owner is gone is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createError } from "../errors.js";

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

function tryClaim(path: string): boolean {
  try {
    const fd = openSync(path, "wx");
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** The holder's pid; 0 while it is still writing it (or wrote garbage); null when the lock is gone. */
function holder(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return null;
  }
}

/** Runs `work` holding the lock at `path`, waiting (abortably) while another live process holds it. */
export async function withDownloadLock<T>(path: string, work: () => Promise<T>, options: { signal?: AbortSignal; onWait?: (pid: number) => void } = {}): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  let told = false;
  let unnamed = 0; // polls that found no pid in the lock
  while (!tryClaim(path)) {
    const pid = holder(path);
    if (pid === null) continue; // released between the claim and the read
    // A dead holder, or one that never wrote its pid within ~5 s (it died between creating and writing).
    if (pid === 0 ? ++unnamed > 25 : !alive(pid)) {
      rmSync(path, { force: true });
      unnamed = 0;
      continue;
    }
    if (pid !== 0 && !told) {
      options.onWait?.(pid);
      told = true;
    }
    try {
      await sleep(200, undefined, { signal: options.signal });
    } catch (error) {
      throw createError("ABORTED", "waiting for another download of the same file was aborted", error);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(path, { force: true });
  }
}
