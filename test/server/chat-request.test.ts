import { describe, expect, test } from "vitest";
import { parseChatRequest } from "../../lib/server/chat-request.js";
import { HttpError } from "../../lib/server/http-error.js";

const user = { role: "user", content: "Hi" };
const bad = (body: unknown) => {
  try {
    parseChatRequest(body);
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    return error as HttpError;
  }
  throw new Error("expected the body to be refused");
};

describe("parseChatRequest", () => {
  test("reads OpenAI's fields", () => {
    const r = parseChatRequest({
      model: "m",
      messages: [
        { role: "developer", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "What is it?" }, { type: "image_url", image_url: { url: "data:image/png;base64,AA==", detail: "low" } }] },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 5,
      temperature: 0.5,
      top_p: 0.9,
      seed: 3,
      stop: "\n",
      n: 1,
      user: "someone",
      logprobs: false,
      frequency_penalty: null,
    });
    expect(r.messages[0]).toEqual({ role: "system", content: [{ type: "text", text: "Be brief." }] });
    expect(r.messages[1]!.content[1]).toEqual({ type: "image", url: "data:image/png;base64,AA==" });
    expect(r).toMatchObject({ model: "m", stream: true, includeUsage: true, maxTokens: 5, temperature: 0.5, topP: 0.9, seed: 3, stop: ["\n"], staged: null });
  });

  test("reasoning_effort maps onto a search; the stagebeam object's fields win", () => {
    expect(parseChatRequest({ messages: [user], reasoning_effort: "low" }).staged).toEqual({ strategy: "single" });
    expect(parseChatRequest({ messages: [user], reasoning_effort: "medium" }).staged).toEqual({ strategy: "stage-beam", width: 2 });
    expect(parseChatRequest({ messages: [user], reasoning_effort: "high" }).staged).toEqual({ strategy: "stage-beam", width: 4 });
    expect(
      parseChatRequest({ messages: [user], reasoning_effort: "high", stagebeam: { width: 3, judge: "logprob", forceStructure: "prefill", maxStageTokens: 8 } }).staged,
    ).toEqual({ strategy: "stage-beam", width: 3, judge: "logprob", forceStructure: "prefill", maxStageTokens: 8 });
    expect(parseChatRequest({ messages: [user], stagebeam: {} }).staged).toEqual({ strategy: "stage-beam" });
  });

  test.each([
    ["not an object", []],
    ["no messages", {}],
    ["empty messages", { messages: [] }],
    ["unknown role", { messages: [{ role: "robot", content: "x" }] }],
    ["tool calls", { messages: [{ role: "assistant", content: "x", tool_calls: [] }] }],
    ["content a number", { messages: [{ role: "user", content: 3 }] }],
    ["unknown part", { messages: [{ role: "user", content: [{ type: "input_audio" }] }] }],
    ["image without url", { messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }] }],
    ["image in a system message", { messages: [{ role: "system", content: [{ type: "image_url", image_url: { url: "data:," } }] }, user] }],
    ["n = 2", { messages: [user], n: 2 }],
    ["temperature too high", { messages: [user], temperature: 3 }],
    ["temperature a string", { messages: [user], temperature: "hot" }],
    ["top_p over 1", { messages: [user], top_p: 1.5 }],
    ["max_tokens 0", { messages: [user], max_tokens: 0 }],
    ["max_tokens fractional", { messages: [user], max_tokens: 1.5 }],
    ["negative seed", { messages: [user], seed: -1 }],
    ["five stops", { messages: [user], stop: ["a", "b", "c", "d", "e"] }],
    ["empty stop", { messages: [user], stop: [""] }],
    ["stream a string", { messages: [user], stream: "yes" }],
    ["unknown stream option", { messages: [user], stream_options: { x: 1 } }],
    ["tools", { messages: [user], tools: [] }],
    ["logprobs", { messages: [user], logprobs: true }],
    ["json mode", { messages: [user], response_format: { type: "json_object" } }],
    ["unknown effort", { messages: [user], reasoning_effort: "extreme" }],
    ["stagebeam not an object", { messages: [user], stagebeam: "fast" }],
    ["unknown stagebeam field", { messages: [user], stagebeam: { beams: 2 } }],
    ["unknown strategy", { messages: [user], stagebeam: { strategy: "fastest" } }],
    ["width 0", { messages: [user], stagebeam: { width: 0 } }],
    ["width too large", { messages: [user], stagebeam: { width: 1000 } }],
    ["staged reasoning after an assistant message", { messages: [user, { role: "assistant", content: "x" }], reasoning_effort: "low" }],
  ])("400 for %s", (_, body) => {
    const error = bad(body);
    expect(error.status).toBe(400);
    expect(error.type).toBe("invalid_request_error");
    expect(error.message.length).toBeGreaterThan(10);
  });
});
