// What a prompt can be made of, whichever engine evaluates it: text, tokens, or text with images.

export interface RawImage {
  width: number;
  height: number;
  /** RGB bytes, row by row, 3 per pixel. */
  data: Uint8Array;
}

/** A file path, encoded bytes (jpg, png, bmp, gif), a `data:` URL, or raw RGB. */
export type ImageInput = string | Uint8Array | RawImage;

/** Text, or an image (file path, encoded bytes, data URL or raw RGB). */
export type PromptPart = string | { image: ImageInput };

/** A stretch of a prompt, [start, end) in UTF-16 code units (string indices). */
export interface TextSpan {
  start: number;
  end: number;
}

/**
 * A prompt with one media marker (projector.marker, `<__media__>` by default) per image; with no images
 * it is text, tokenized as a string would be.
 */
export interface MarkedPrompt {
  prompt: string;
  images: ImageInput[];
  /**
   * Stretches of `prompt` that are plain text — what a user wrote, placed in a chat template: never
   * parsed for special tokens and never scanned for media markers, so `<|eot_id|>` or `<__media__>`
   * typed by a user stays those characters. Sorted, not overlapping. (Where a stretch holds no such
   * text, the prompt is tokenized in one piece, exactly as without it.)
   */
  plainText?: readonly TextSpan[];
}

export type PromptInput = string | readonly number[] | readonly PromptPart[] | MarkedPrompt;
