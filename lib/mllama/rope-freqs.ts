// rope_freqs.weight: Llama 3's RoPE scaling as per-dimension frequency divisors, a port of llama.cpp's
// generate_extra_tensors (llama.cpp/conversion/llama.py, LlamaModel). The runtime divides ggml's base
// frequencies by these factors. Each step follows torch's float32 arithmetic there: the frequencies are a
// float32 tensor, `2π / freq` is torch's reciprocal-then-multiply (Tensor.__rtruediv__), and every later
// operation on the 0-d tensors stays float32. (HF computes its inv_freq in another order, so the two agree
// to an ulp or two, not bit for bit: errata a2.)
import type { Llama3RopeScaling } from "./hf-config.js";

const f = Math.fround;

/** The base frequencies 1 / base^(i/dim) for i = 0, 2, …, as float32 (torch: arange(0, dim, 2) / dim). */
export function ropeBaseFrequencies(base: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < out.length; i++) out[i] = f(1 / f(Math.pow(f(base), f((2 * i) / dim))));
  return out;
}

/** The llama3 factors for a head of `dim` (head_dim) with RoPE base `base`. */
export function llama3RopeFactors(base: number, dim: number, scaling: Llama3RopeScaling): Float32Array {
  const { factor, lowFreqFactor, highFreqFactor, originalContextLength } = scaling;
  const lowFreqWavelen = originalContextLength / lowFreqFactor; // Python floats (double)
  const highFreqWavelen = originalContextLength / highFreqFactor;
  const freqs = ropeBaseFrequencies(base, dim);
  const out = new Float32Array(freqs.length);
  for (let i = 0; i < freqs.length; i++) {
    const wavelen = f(f(1 / freqs[i]!) * f(2 * Math.PI));
    // tensor < python float: torch compares in the tensor's dtype.
    if (wavelen < f(highFreqWavelen)) out[i] = 1;
    else if (wavelen > f(lowFreqWavelen)) out[i] = f(factor);
    else {
      const smooth = f(f(f(f(1 / wavelen) * f(originalContextLength)) - f(lowFreqFactor)) / f(highFreqFactor - lowFreqFactor));
      out[i] = f(1 / f(f(f(1 - smooth) / f(factor)) + smooth));
    }
  }
  return out;
}
