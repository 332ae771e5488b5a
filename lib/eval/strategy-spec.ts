// The strategies an evaluation compares, written `name` or `name:width` ("single,stage-beam:2,
// best-of-n:4"), onto reason()'s strategy names and widths. Each gets a file key for its outputs; the key
// names the judge where the strategy has one, so runs with either judge share an output folder.
import type { JudgeMode, StrategyName } from "../reasoning/options.js";

export interface StrategySpec {
  /** As written: "stage-beam:4". */
  label: string;
  strategy: StrategyName;
  width?: number;
}

/** Strategies with a width (candidates per step); the default is reason()'s, 2. */
const WIDENED: readonly StrategyName[] = ["stage-beam", "best-of-n", "sentence-beam"];
const UNWIDENED: readonly StrategyName[] = ["single", "retrace"];
/** Strategies whose choices a pairwise judge makes. */
const JUDGED: readonly StrategyName[] = ["stage-beam", "best-of-n", "sentence-beam"];
const MAX_WIDTH = 64;

/** The specs of a comma-separated list; throws an Error saying what is wrong with it. */
export function parseStrategySpecs(list: string): StrategySpec[] {
  const specs: StrategySpec[] = [];
  const known = [...UNWIDENED, ...WIDENED].join(", ");
  for (const raw of list.split(",")) {
    const label = raw.trim();
    if (!label) throw new Error(`empty strategy in "${list}": write e.g. single,stage-beam:2,best-of-n:4`);
    const [name, width, ...rest] = label.split(":");
    if (rest.length > 0) throw new Error(`"${label}": write a strategy as NAME or NAME:WIDTH`);
    if (WIDENED.includes(name as StrategyName)) {
      if (width === undefined) {
        specs.push({ label, strategy: name as StrategyName });
        continue;
      }
      const n = Number(width);
      if (!/^\d+$/.test(width) || n < 1 || n > MAX_WIDTH) throw new Error(`"${label}": the width must be an integer from 1 to ${MAX_WIDTH}`);
      specs.push({ label, strategy: name as StrategyName, width: n });
    } else if (UNWIDENED.includes(name as StrategyName)) {
      if (width !== undefined) throw new Error(`"${label}": ${name} takes no width`);
      specs.push({ label, strategy: name as StrategyName });
    } else {
      throw new Error(`unknown strategy "${name}": use ${known} (with :WIDTH for ${WIDENED.join(", ")})`);
    }
  }
  const labels = specs.map((s) => specKey(s, "generate"));
  const repeated = labels.find((l, i) => labels.indexOf(l) !== i);
  if (repeated) throw new Error(`strategy ${repeated} is listed twice`);
  return specs;
}

export function isJudged(spec: StrategySpec): boolean {
  return JUDGED.includes(spec.strategy);
}

/** The outputs' file name stem: "single", "stage-beam-4-logprob". */
export function specKey(spec: StrategySpec, judge: JudgeMode): string {
  const width = WIDENED.includes(spec.strategy) ? `-${spec.width ?? 2}` : "";
  return `${spec.strategy}${width}${isJudged(spec) ? `-${judge}` : ""}`;
}
