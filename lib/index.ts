// stagebeam's public API.
export { loadModel, Model, type EngineName, type LoadModelOptions, type ModelMetadata, type TokenizeOptions } from "./model.js";
export { Context, type ContextOptions, type ContextStats } from "./context.js";
export { Sequence, type EvaluateOptions, type EvaluateResult, type MarkedPrompt, type PromptPart } from "./sequence.js";
export { Projector, type LoadProjectorOptions, type ProjectorInfo } from "./projector.js";
export { MllamaProjector } from "./mllama/projector.js";
export type { ImageInput, RawImage } from "./image-input.js";
export {
  Generation,
  type GenerateOptions,
  type GenerationEvent,
  type GenerationRequest,
  type GenerationResult,
  type StopReason,
} from "./generation.js";
export type { SamplingOptions } from "./sampling.js";
export type { TokenLogprob } from "./batch-scheduler.js";
export type { ChatMessage, ContentPart } from "./chat-template.js";
export * from "./errors.js";
export { reason, strategies } from "./reasoning/reason.js";
export type { ReasonOptions, ReasonEvent, StrategyName, ForceStructure, JudgeMode, Verifier } from "./reasoning/options.js";
export type { ReasonResult, CandidateRecord, JudgementRecord, ReasonCounts } from "./reasoning/trace.js";
export { STAGES, parseStage, parseAnswer, stageGrammar, type Stage } from "./reasoning/stages.js";
export { backendDevices } from "./native.js";
export { nativeHandleCounts, type NativeHandleCounts } from "./native-handles.js";
export { createServerHandler, type ServerHandler, type ServerHandlerOptions } from "./server/handler.js";
export { nodeListener } from "./server/node-adapter.js";
export { chatTemplateNames } from "./chat-template-names.js";
export { quantizeModel, type QuantizationType } from "./quantize.js";
export { convertModel, type ConvertModelOptions, type ConvertModelResult, type MllamaWeightType } from "./mllama/convert.js";
export type * from "./engine/types.js";
