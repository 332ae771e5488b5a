// The context model.reason() runs on when the caller gives none: one per model, made on first use and
// shared by concurrent calls, so their candidates join the same batch steps and an image evaluated for
// one call is reused by the next through the prefix cache. Sized for several searches at once.
import type { EngineContext } from "../engine/types.js";

/**
 * What can make the shared context: a Model. Described here rather than imported, so that lib/model.ts
 * can delegate reason() to this layer without an import circle.
 */
export interface ReasoningContextMaker<C extends EngineContext> {
  readonly metadata: { readonly contextLength: number };
  createContext(options: { contextSize: number; sequences: number; prefixCache: { sequences: number } }): Promise<C>;
}

const shared = new WeakMap<object, Promise<EngineContext>>();

export function sharedReasoningContext<C extends EngineContext>(model: ReasoningContextMaker<C>): Promise<C> {
  let context = shared.get(model) as Promise<C> | undefined;
  if (!context) {
    context = model
      .createContext({
        contextSize: Math.min(8192, model.metadata.contextLength || 8192),
        sequences: 64,
        prefixCache: { sequences: 4 },
      })
      .catch((error: unknown) => {
        // Not cached: the next call tries again.
        shared.delete(model);
        throw error;
      });
    shared.set(model, context);
  }
  return context;
}

/** Forgets a model's shared context: the model is being disposed, and its contexts with it. */
export function forgetSharedReasoningContext(model: object): void {
  shared.delete(model);
}
