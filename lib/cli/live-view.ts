// The live display of a search on stderr: the current stage and its candidates on a status line, each
// judgement and stage winner as a line above it. Nothing when not on a TTY (or with --quiet).
import type { ReasonEvent } from "../reasoning/options.js";
import type { Terminal } from "./terminal.js";

export function liveView(term: Terminal): (event: ReasonEvent) => void {
  let kind = "";
  let total = 0;
  let done = 0;
  let tokens = 0;
  return (event) => {
    if (!term.interactive) return;
    switch (event.type) {
      case "prompt":
        term.status(event.images ? "encoding the image and the question…" : "evaluating the question…");
        break;
      case "stage-start":
        ({ kind, candidates: total } = event);
        done = 0;
        tokens = 0;
        term.status(`${kind}: sampling ${total} candidate${total === 1 ? "" : "s"}…`);
        break;
      case "candidate-token":
        tokens++;
        if (tokens % 8 === 0) term.status(`${kind}: ${done}/${total} candidates done, ${tokens} tokens`);
        break;
      case "candidate-done":
        done++;
        term.status(`${kind}: ${done}/${total} candidates done${event.valid ? "" : " (one malformed)"}`);
        break;
      case "judgement":
        term.note(term.dim(`  judge ${event.stage}: candidate ${event.winner} beats ${event.pair.find((c) => c !== event.winner)}${event.fellBack ? " (fallback: mean logprob)" : ""}`));
        break;
      case "stage-winner":
        term.note(`${term.bold(event.kind)} ${event.text.replace(/<\/?[A-Z]+>/g, "").trim().slice(0, 100)}`);
        break;
      case "restart":
        term.note(term.dim("  the context was full: starting over"));
        break;
      case "done":
        term.clear();
        break;
    }
  };
}
