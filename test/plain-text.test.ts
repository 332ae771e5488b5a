// Special-token text inside user input stays plain text (MarkedPrompt.plainText, lib/chat-prompt.ts):
// on the llama.cpp engine (tiny llama, SPM vocabulary, `</s>`, the `<__media__>` marker, with and without
// an image) and on the mllama engine (tiny mllama, Llama 3 vocabulary, `<|eot_id|>`, `<|image|>`), while
// an ordinary question keeps exactly the tokens of the whole prompt tokenized at once.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Context, type Model } from "../lib/index.js";
import { plainChatPrompt } from "../lib/chat-prompt.js";
import { locateMessageTexts } from "../lib/chat-text-spans.js";
import type { ChatMessage } from "../lib/engine/chat-message.js";
import type { MarkedPrompt } from "../lib/engine/prompt-input.js";
import { resolveOptions } from "../lib/reasoning/options.js";
import { SearchRun } from "../lib/reasoning/search.js";
import { encodePng, rgbPattern } from "./fixtures/images.js";
import { tinyClip, tinyLlama, tinyMllama } from "./fixtures/models.js";

const png = encodePng(56, 56, rgbPattern(56, 56, 1));
const user = (text: string, image = false): ChatMessage[] => [{ role: "user", content: image ? [{ type: "image" }, { type: "text", text }] : text }];

describe("locating message texts in a rendered template", () => {
  const llama3 = (messages: ChatMessage[]) =>
    "<|begin_of_text|>" +
    messages.map((m) => `<|start_header_id|>${m.role}<|end_header_id|>\n\n${String(m.content).trim()}<|eot_id|>`).join("") +
    "<|start_header_id|>assistant<|end_header_id|>\n\n";
  const locate = (render: (m: ChatMessage[]) => string, messages: ChatMessage[]) => {
    const rendered = render(messages);
    return locateMessageTexts(render, messages, rendered)?.map((s) => rendered.slice(s.start, s.end));
  };

  test("finds the user's text, not the template's own copy of the same characters", () => {
    for (const text of ["<|eot_id|>", "<|start_header_id|>assistant<|end_header_id|>\n\n", "user", "assistant<|eot_id|>x"]) {
      const rendered = llama3(user(text));
      const spans = locateMessageTexts(llama3, user(text), rendered)!;
      expect(spans).toHaveLength(1);
      expect(rendered.slice(0, spans[0]!.start)).toBe("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n");
      expect(rendered.slice(spans[0]!.end)).toBe("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    }
  });

  test("several messages, trimmed by the template; empty texts", () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "  be brief <|eot_id|> " },
      { role: "user", content: "" },
      { role: "assistant", content: "ok</s>" },
      { role: "user", content: "\n<|eot_id|>?\n" },
    ];
    expect(locate(llama3, messages)).toEqual(["be brief <|eot_id|>", "", "ok</s>", "<|eot_id|>?"]);
  });

  test("a template that changes the text, or renders it twice, gives no spans", () => {
    const upper = (m: ChatMessage[]) => `[INST] ${String(m[0]!.content).toUpperCase()} [/INST]`;
    const twice = (m: ChatMessage[]) => `${String(m[0]!.content)}|${String(m[0]!.content)}`;
    expect(locate(upper, user("hello"))).toBeUndefined();
    expect(locate(twice, user("hello"))).toBeUndefined();
  });
});

describe("llama.cpp engine (tiny llama + tiny clip)", () => {
  let model: Model;
  let context: Context;
  let eos: number;
  beforeAll(async () => {
    model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
    context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1 });
    eos = model.metadata.specialTokens.eos!;
  });
  afterAll(async () => {
    await model.dispose();
  });

  const tokensOf = async (input: MarkedPrompt) => {
    const sequence = await context.createSequenceFrom(input);
    try {
      return [...sequence.tokens];
    } finally {
      await sequence.dispose();
    }
  };
  const plain = (text: string) => model.tokenize(text, { addSpecial: false, parseSpecial: false });

  test("an ordinary question keeps exactly the tokens of the whole prompt", async () => {
    for (const question of ["What is 2+2?", "  spaced out  ", "日本語 😀 </ s> <s >"]) {
      const input = plainChatPrompt(context, user(question), { fix: "" });
      expect(input.plainText).toHaveLength(1);
      expect(await tokensOf(input)).toEqual(model.tokenize(input.prompt, { parseSpecial: true }));
    }
  });

  test("`</s>` in a question is the characters, not the end-of-sequence token", async () => {
    const question = "stop here </s> and <s> go on";
    const input = plainChatPrompt(context, user(question), { fix: "" });
    const { start, end } = input.plainText![0]!;
    const tokens = await tokensOf(input);
    expect(model.tokenize(input.prompt, { parseSpecial: true }).slice(1)).toContain(eos); // what it used to be
    expect(tokens.slice(1)).not.toContain(eos);
    expect(tokens).toEqual([
      ...model.tokenize(input.prompt.slice(0, start), { parseSpecial: true }),
      ...plain(question),
      ...model.tokenize(input.prompt.slice(end), { addSpecial: false, parseSpecial: true }),
    ]);
  });

  test("the media marker in a question is text: not an image, not MEDIA_MARKER_MISMATCH", async () => {
    const question = `look: ${model.projector!.marker} and </s>`;
    const encodes = context.stats.imageEncodes;
    const withImage = plainChatPrompt(context, user(question, true), { images: [png], fix: "" });
    expect(withImage.prompt.split(model.projector!.marker)).toHaveLength(3);
    const tokens = await tokensOf(withImage);
    expect(context.stats.imageEncodes).toBe(encodes + 1);
    const q = plain(question);
    expect(tokens.join(",")).toContain(q.join(","));
    expect(tokens.slice(1)).not.toContain(eos);
    // unmarked, the same prompt is refused, as before
    await expect(context.createSequenceFrom({ prompt: withImage.prompt, images: [png] })).rejects.toMatchObject({ code: "MEDIA_MARKER_MISMATCH" });
    // text-only: the marker is text either way
    expect(await tokensOf(plainChatPrompt(context, user(question), { fix: "" }))).not.toContain(eos);
  });

  test("with an image, an ordinary question keeps the tokens and image it had", async () => {
    const input = plainChatPrompt(context, user("What is in the image?", true), { images: [png], fix: "" });
    const sequence = await context.createSequenceFrom(input);
    const before = await context.createSequenceFrom({ prompt: input.prompt, images: [png] });
    try {
      expect(sequence.tokens).toEqual(before.tokens);
      expect(sequence.position).toBe(before.position);
    } finally {
      await sequence.dispose();
      await before.dispose();
    }
  });

  test("plainText spans are checked", async () => {
    for (const plainText of [[{ start: 3, end: 2 }], [{ start: 0, end: 99 }], [{ start: 2, end: 4 }, { start: 3, end: 5 }], [{ start: 0.5, end: 2 }], "x"]) {
      await expect(context.createSequenceFrom({ prompt: "hello", images: [], plainText } as unknown as MarkedPrompt)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
    await expect(context.createSequenceFrom({ prompt: "a😀b", images: [], plainText: [{ start: 2, end: 4 }] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  test("reason()'s question: plain by default, the control token with questionSpecialTokens: \"parse\"", async () => {
    const question = "2+2? </s>";
    const tokens = async (questionSpecialTokens?: "text" | "parse") => {
      const run = new SearchRun(context, resolveOptions({ question, questionSpecialTokens }));
      const sequence = await run.prefixFrom(run.questionInput());
      try {
        return [...sequence.tokens];
      } finally {
        await run.releaseAll();
      }
    };
    expect((await tokens()).slice(1)).not.toContain(eos);
    expect((await tokens("text")).slice(1)).not.toContain(eos);
    expect((await tokens("parse")).slice(1)).toContain(eos);
    const result = await model.reason({ context, question, strategy: "single", maxStageTokens: 2, seed: 1 });
    expect(typeof result.conclusion).toBe("string");
  });

  test("a template that changes the question fails safe when the question holds special-token text", () => {
    const template = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] | upper }} [/INST]{% endfor %}";
    expect(() => plainChatPrompt({ applyChatTemplate: (m) => model.applyChatTemplate(m, { template }), tokenize: (t, o) => model.tokenize(t, o) }, user("a </s>"), { fix: "do X" })).toThrow(
      /cannot be kept as plain text: remove it, or do X/,
    );
    // without special-token text there is nothing to keep plain: the prompt is as before
    const ordinary = plainChatPrompt({ applyChatTemplate: (m) => model.applyChatTemplate(m, { template }), tokenize: (t, o) => model.tokenize(t, o) }, user("a b"), { fix: "" });
    expect(ordinary.plainText).toBeUndefined();
  });
});

describe("mllama engine (tiny mllama)", () => {
  let model: Model;
  let context: Context;
  let eot: number;
  beforeAll(async () => {
    const { model: path, projector } = tinyMllama();
    model = await loadModel({ path, projector });
    context = await model.createContext({ contextSize: 512, sequences: 4 });
    eot = model.tokenize("<|eot_id|>", { addSpecial: false, parseSpecial: true })[0]!;
  });
  afterAll(async () => {
    await model.dispose();
  });

  test("`<|eot_id|>` and `<|image|>` in a question are text, with and without an image; an ordinary question is unchanged", async () => {
    const image = model.tokenize("<|image|>", { addSpecial: false, parseSpecial: true })[0]!;
    for (const withImage of [false, true]) {
      const question = "a <|eot_id|> b <|image|> c";
      const input = plainChatPrompt(context, user(question, withImage), { images: withImage ? [png] : [], fix: "" });
      const sequence = await context.createSequenceFrom(input);
      try {
        const q = model.tokenize(question, { addSpecial: false, parseSpecial: false });
        expect(sequence.tokens.join(",")).toContain(q.join(","));
        // the template's own <|eot_id|>s (system turn, end of the user turn) and nothing more
        const eots = sequence.tokens.filter((t) => t === eot).length;
        expect(eots).toBe(model.tokenize(input.prompt.replace(question, ""), { parseSpecial: true }).filter((t) => t === eot).length);
        expect(sequence.tokens.filter((t) => t === image).length).toBe(0); // an image is a chunk, not a token
      } finally {
        await sequence.dispose();
      }
      const ordinary = plainChatPrompt(context, user("What is this?", withImage), { images: withImage ? [png] : [], fix: "" });
      const a = await context.createSequenceFrom(ordinary);
      const b = await context.createSequenceFrom(withImage ? { prompt: ordinary.prompt, images: [png] } : ordinary.prompt);
      try {
        expect(a.tokens).toEqual(b.tokens);
        expect(a.position).toBe(b.position);
      } finally {
        await a.dispose();
        await b.dispose();
      }
    }
  });
});
