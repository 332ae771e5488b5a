// Chat templates render under a step and range budget: real templates render exactly as without it;
// loops that would stall the JS thread fail with INVALID_ARGUMENT; renders outside the budget (other
// users of @huggingface/jinja) are untouched.
import { Template } from "@huggingface/jinja";
import { describe, expect, test } from "vitest";
import { LLAMA2_CHAT_TEMPLATE } from "../lib/gguf/tiny-llama.js";
import { renderWithBudget } from "../lib/jinja-budget.js";

const messages = Array.from({ length: 1000 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `message ${i}` }));
const variables = { messages, bos_token: "<s>", eos_token: "</s>", add_generation_prompt: true };

describe("renderWithBudget", () => {
  test("a 1,000-message conversation renders exactly as an unbudgeted render", () => {
    const template = new Template(LLAMA2_CHAT_TEMPLATE);
    expect(renderWithBudget(template, variables)).toBe(template.render(variables));
  });

  test.each([
    ["a huge range", "{% for i in range(1000000000) %}x{% endfor %}"],
    ["nested ranges", "{% for i in range(10000) %}{% for j in range(10000) %}{{ '' }}{% endfor %}{% endfor %}"],
    ["a huge negative-step range", "{% for i in range(0, -1000000000, -1) %}x{% endfor %}"],
  ])("%s is INVALID_ARGUMENT", (_, text) => {
    expect(() => renderWithBudget(new Template(text), {})).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  test("range() keeps its meaning within the budget, and outside it is the library's own", () => {
    const template = new Template("{% for i in range(2, 11, 3) %}{{ i }},{% endfor %}{{ range(3) | length }}");
    expect(renderWithBudget(template, {})).toBe("2,5,8,3");
    expect(() => renderWithBudget(new Template("{{ range(0, 5, 0) }}"), {})).toThrow();
    // After a failed budgeted render, an ordinary render may take as long as it likes.
    expect(() => renderWithBudget(new Template("{% for i in range(20000) %}{% endfor %}"), {})).toThrow();
    expect(new Template("{% for i in range(20000) %}{% endfor %}{{ 'done' }}").render({})).toBe("done");
  });
});
