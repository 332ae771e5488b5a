// Typed errors with stable codes. Native failures arrive as Errors with a `code`; toStagebeamError()
// turns them into these classes so callers can `instanceof` or switch on `error.code`.

export const ERROR_CODES = [
  "MODEL_NOT_FOUND",
  "INVALID_GGUF",
  "UNSUPPORTED_ARCHITECTURE",
  "MODEL_LOAD_FAILED",
  "CONTEXT_CREATE_FAILED",
  "CONTEXT_FULL",
  "INSUFFICIENT_MEMORY",
  "CONTEXT_BUSY",
  "SEQUENCE_LIMIT",
  "INVALID_SEQUENCE",
  "INVALID_TOKEN",
  "INVALID_GRAMMAR",
  "GRAMMAR_REJECTED",
  "SAMPLING_FAILED",
  "INVALID_ARGUMENT",
  "ABORTED",
  "DISPOSED",
  "DECODE_FAILED",
  "NATIVE_ADDON_MISSING",
  "NO_BACKEND",
  "INVALID_PROJECTOR",
  "PROJECTOR_MISMATCH",
  "PROJECTOR_LOAD_FAILED",
  "NO_PROJECTOR",
  "IMAGE_NOT_FOUND",
  "INVALID_IMAGE",
  "UNSUPPORTED_IMAGE",
  "MEDIA_MARKER_MISMATCH",
  "NO_CHAT_TEMPLATE",
  "IMAGE_ENCODE_FAILED",
  "UBATCH_TOO_SMALL",
  "DOWNLOAD_FAILED",
  "CHECKSUM_MISMATCH",
  "QUANTIZE_FAILED",
  "INVALID_CHECKPOINT",
  "WRITE_FAILED",
  "INVALID_DATA",
  "REMOTE_FAILED",
  "INVALID_RPC_ENDPOINT",
  "RPC_UNREACHABLE",
  "RPC_PROTOCOL_MISMATCH",
  "RPC_UNSUPPORTED",
  "RPC_SERVER_FAILED",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class StagebeamError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ModelNotFoundError extends StagebeamError {}
export class InvalidModelError extends StagebeamError {}
export class ContextFullError extends StagebeamError {}
export class SequenceLimitError extends StagebeamError {}
export class InvalidGrammarError extends StagebeamError {}
export class InvalidArgumentError extends StagebeamError {}
export class AbortError extends StagebeamError {
  constructor(message = "the operation was aborted", options?: { cause?: unknown }) {
    super("ABORTED", message, options);
  }
}
export class DisposedError extends StagebeamError {}
export class InvalidImageError extends StagebeamError {}
/** A Hugging Face checkpoint that cannot be converted: missing or inconsistent files, tensors or config. */
export class InvalidCheckpointError extends StagebeamError {}
/** An output file could not be written (disk full, no permission, no such folder). */
export class WriteError extends StagebeamError {}

const classes: Partial<Record<ErrorCode, new (code: ErrorCode, message: string, options?: { cause?: unknown }) => StagebeamError>> = {
  MODEL_NOT_FOUND: ModelNotFoundError,
  INVALID_GGUF: InvalidModelError,
  UNSUPPORTED_ARCHITECTURE: InvalidModelError,
  MODEL_LOAD_FAILED: InvalidModelError,
  CONTEXT_FULL: ContextFullError,
  SEQUENCE_LIMIT: SequenceLimitError,
  INVALID_GRAMMAR: InvalidGrammarError,
  INVALID_ARGUMENT: InvalidArgumentError,
  INVALID_TOKEN: InvalidArgumentError,
  INVALID_SEQUENCE: InvalidArgumentError,
  DISPOSED: DisposedError,
  INVALID_PROJECTOR: InvalidModelError,
  PROJECTOR_MISMATCH: InvalidModelError,
  PROJECTOR_LOAD_FAILED: InvalidModelError,
  IMAGE_NOT_FOUND: InvalidImageError,
  INVALID_IMAGE: InvalidImageError,
  UNSUPPORTED_IMAGE: InvalidImageError,
  MEDIA_MARKER_MISMATCH: InvalidArgumentError,
  NO_PROJECTOR: InvalidArgumentError,
  UBATCH_TOO_SMALL: InvalidArgumentError,
  INVALID_CHECKPOINT: InvalidCheckpointError,
  WRITE_FAILED: WriteError,
  INVALID_RPC_ENDPOINT: InvalidArgumentError,
};

export function createError(code: ErrorCode, message: string, cause?: unknown): StagebeamError {
  if (code === "ABORTED") return new AbortError(message, { cause });
  const Class = classes[code] ?? StagebeamError;
  return new Class(code, message, cause === undefined ? undefined : { cause });
}

/** Converts anything thrown by the addon (or a plain Error) into a StagebeamError. */
export function toStagebeamError(error: unknown): StagebeamError {
  if (error instanceof StagebeamError) return error;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === "string" && isErrorCode(code)) return createError(code, error.message, error);
    return new StagebeamError("INTERNAL", error.message, { cause: error });
  }
  return new StagebeamError("INTERNAL", String(error));
}

const knownCodes = new Set<string>(ERROR_CODES);

function isErrorCode(code: string): code is ErrorCode {
  return knownCodes.has(code);
}

/** Runs a native call and rethrows its failure as a typed error. */
export async function native<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toStagebeamError(error);
  }
}

export function nativeSync<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toStagebeamError(error);
  }
}
