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

/** A prompt with one media marker (projector.marker, `<__media__>` by default) per image. */
export interface MarkedPrompt {
  prompt: string;
  images: ImageInput[];
}

export type PromptInput = string | readonly number[] | readonly PromptPart[] | MarkedPrompt;
