// The row order llama.cpp's NORM RoPE expects for Q and K projections: LlamaModel.permute
// (llama.cpp/conversion/llama.py) reshapes the [heads·head_dim, in] weight to (heads, 2, head_dim/2, in),
// swaps the middle axes and flattens back, so that each head's two rotary halves become interleaved pairs.
// Only rows move, and only within a head, so a head's rows can be permuted alone (streaming by head).

/** Output row r of one head comes from input row ropeSourceRow(r, headDim) of that head. */
export function ropeSourceRow(row: number, headDim: number): number {
  const j = row >> 1;
  const t = row & 1;
  return t * (headDim / 2) + j;
}

/** Permutes the rows of whole heads (`rows` holds heads × headDim rows of `rowLength` values). */
export function permuteHeadsForRope(rows: Float32Array, headDim: number, rowLength: number): Float32Array {
  const out = new Float32Array(rows.length);
  const heads = rows.length / (headDim * rowLength);
  for (let h = 0; h < heads; h++) {
    const base = h * headDim;
    for (let r = 0; r < headDim; r++) {
      const from = (base + ropeSourceRow(r, headDim)) * rowLength;
      out.set(rows.subarray(from, from + rowLength), (base + r) * rowLength);
    }
  }
  return out;
}

/** The inverse: GGUF (permuted) rows back to Hugging Face's order. */
export function unpermuteHeadsForRope(rows: Float32Array, headDim: number, rowLength: number): Float32Array {
  const out = new Float32Array(rows.length);
  const heads = rows.length / (headDim * rowLength);
  for (let h = 0; h < heads; h++) {
    const base = h * headDim;
    for (let r = 0; r < headDim; r++) {
      const to = (base + ropeSourceRow(r, headDim)) * rowLength;
      out.set(rows.subarray((base + r) * rowLength, (base + r + 1) * rowLength), to);
    }
  }
  return out;
}
