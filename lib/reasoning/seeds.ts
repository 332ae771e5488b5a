// Deterministic seeds: every sampled call of a search gets its own seed derived from the user's seed and
// where it is in the search (stage, round, candidate), so forks of one prefix draw different samples, and
// the same search with the same seed draws the same ones however calls are batched.
export function deriveSeed(seed: number, ...path: (string | number)[]): number {
  let h = (seed >>> 0) ^ 0x811c9dc5;
  for (const part of path) {
    for (const ch of String(part)) {
      h ^= ch.charCodeAt(0);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
