// The names of Llama 3.2 Vision's 256 control tokens (ids 128000–128255) as its Hugging Face tokenizer.json
// carries them, and <|image|> after them. llama.cpp's ggml-vocab-llama-bpe.gguf has Llama 3.0's names
// (128008 = <|reserved_special_token_4|>, …), under which llama.cpp's text-based end-of-generation detection
// would miss <|eom_id|> (errata b7); the tiny random-weight model renames them with this list.

export const FIRST_SPECIAL_TOKEN = 128000;
export const IMAGE_TOKEN = "<|image|>";

export function llama32VisionSpecialTokens(): string[] {
  const named = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|step_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
  ];
  return [...named, ...Array.from({ length: 256 - named.length }, (_, i) => `<|reserved_special_token_${i + 2}|>`)];
}
