// Reading a server-sent-events response in tests: the `data:` payloads, parsed, up to [DONE].
export interface SseResult {
  chunks: any[];
  done: boolean;
}

export async function readSse(response: Response): Promise<SseResult> {
  const text = await response.text();
  const frames = text.split("\n\n").filter((f) => f.length > 0);
  const chunks: any[] = [];
  let done = false;
  for (const f of frames) {
    if (!f.startsWith("data: ")) throw new Error(`not an SSE data frame: ${JSON.stringify(f)}`);
    const data = f.slice("data: ".length);
    if (data === "[DONE]") done = true;
    else chunks.push(JSON.parse(data));
  }
  return { chunks, done };
}

/** Concatenated content and reasoning of streamed chunks. */
export function joined(chunks: any[]): { content: string; reasoning: string } {
  let content = "";
  let reasoning = "";
  for (const c of chunks) {
    const delta = c.choices?.[0]?.delta ?? {};
    content += delta.content ?? "";
    reasoning += delta.reasoning_content ?? "";
  }
  return { content, reasoning };
}
