// Counters for GET /metrics, in Prometheus' text format: requests by route and status, tokens, and the
// shared context's state (KV cells in use, image encodes) and the queue, read when scraped.
import type { Context } from "../context.js";

export interface Gauges {
  context: Context | null;
  waiting: number;
  running: number;
}

export class ServerMetrics {
  readonly #requests = new Map<string, number>();
  promptTokens = 0;
  completionTokens = 0;

  countRequest(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  render(gauges: Gauges): string {
    const lines: string[] = [];
    const metric = (name: string, type: "counter" | "gauge", help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
    };
    metric("stagebeam_requests_total", "counter", "HTTP requests answered, by route and status.", [...this.#requests]);
    metric("stagebeam_prompt_tokens_total", "counter", "Prompt tokens of completed chat requests.", [["", this.promptTokens]]);
    metric("stagebeam_completion_tokens_total", "counter", "Tokens generated for completed chat requests.", [["", this.completionTokens]]);
    metric("stagebeam_requests_running", "gauge", "Chat requests running now.", [["", gauges.running]]);
    metric("stagebeam_queue_length", "gauge", "Chat requests waiting for a turn.", [["", gauges.waiting]]);
    metric("stagebeam_kv_cells_used", "gauge", "KV cache cells holding a token (the prefix cache's included).", [["", gauges.context?.usedCells ?? 0]]);
    metric("stagebeam_kv_cells_total", "gauge", "KV cache cells of the shared context.", [["", gauges.context?.contextSize ?? 0]]);
    // The native side of the batch steps: how many, how many tokens, and the seconds spent in the forward
    // pass and in reading outputs (sampling, logprobs). Against wall time they say how busy the engine
    // is, and against llama-server's llamacpp:n_decode_total whether requests share steps as well.
    const steps = gauges.context?.scheduler.stats;
    metric("stagebeam_decode_calls_total", "counter", "Batch steps (native decode calls) on the shared context.", [["", steps?.decodeCalls ?? 0]]);
    metric("stagebeam_decode_tokens_total", "counter", "Tokens those steps evaluated (prompts and generated tokens).", [["", steps?.tokensDecoded ?? 0]]);
    metric("stagebeam_decode_seconds_total", "counter", "Seconds in the forward pass of those steps.", [["", (steps?.forwardMs ?? 0) / 1000]]);
    metric("stagebeam_output_read_seconds_total", "counter", "Seconds reading their outputs (sampling, logprobs).", [["", (steps?.readMs ?? 0) / 1000]]);
    metric("stagebeam_image_encodes_total", "counter", "Images encoded into the KV cache (the prefix cache saves the others).", [["", gauges.context?.stats.imageEncodes ?? 0]]);
    return `${lines.join("\n")}\n`;
  }
}
