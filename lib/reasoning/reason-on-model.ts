// What model.reason() does: reason() on the caller's context, or on the model's shared reasoning
// context, taking turns with other searches where the context asks for that.
import type { EngineContext } from "../engine/types.js";
import type { ReasonOptions } from "./options.js";
import { reason } from "./reason.js";
import { inTurn } from "./search-turns.js";
import { sharedReasoningContext, type ReasoningContextMaker } from "./shared-context.js";
import type { ReasonResult } from "./trace.js";

export async function reasonOnModel<C extends EngineContext>(
  model: ReasoningContextMaker<C>,
  options: ReasonOptions & { context?: C },
): Promise<ReasonResult> {
  const { context, ...rest } = options;
  const target = context ?? (await sharedReasoningContext(model));
  return inTurn(target, () => reason(target, rest));
}
