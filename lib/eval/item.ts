// One benchmark question as the harness runs it, whichever file it came from: the question, its image,
// the options of a multiple-choice question, the reference answer and the category it is counted under.

export interface EvalItem {
  /** The row's id in its file (VLMEvalKit's `index`, the JSONL's `id`), as text: results are keyed on it. */
  id: string;
  question: string;
  /** VLMEvalKit's `hint`: context shown before the question. */
  hint?: string;
  /** Encoded image bytes, or a file path (JSONL); absent for a text-only question. */
  image?: Uint8Array | string;
  /** Multiple-choice options by letter, in order (A, B, …); absent for open questions. */
  choices?: Record<string, string>;
  answer: string;
  category?: string;
}

/** A row that could not be read: reported and skipped, the run goes on. */
export interface RowProblem {
  /** 1-based line of the file (TSV: the header is line 1). */
  line: number;
  id?: string;
  message: string;
}

export interface ReadItems {
  items: EvalItem[];
  problems: RowProblem[];
}
