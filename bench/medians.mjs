// How the benchmark summarises repeated measurements: the median (the upper one of an even count, a
// value that was measured) with the spread around it.
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median, min, max and count of the measurements; null for none. */
export const spread = (xs) => (xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length } : null);
