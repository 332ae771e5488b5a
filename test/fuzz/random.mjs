// The seeded randomness of the fuzz harness: one stream per (seed, class, case index), so any case is
// made again from those three numbers alone, in any order and in any process.
import { seededRandom } from "../../dist/seeded-random.js";

function fnv1a(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function caseRandom(seed, cls, index) {
  const next = seededRandom(fnv1a(`${seed}:${cls}:${index}`));
  const random = () => next();
  random.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  random.pick = (items) => items[Math.floor(next() * items.length)];
  random.chance = (p) => next() < p;
  random.bytes = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
  return random;
}
