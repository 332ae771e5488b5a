// Aborts at every point on the llama.cpp engine: the tiny llama with the tiny CLIP projector.
import { tinyClip, tinyLlama } from "../fixtures/models.js";
import { abortSuite } from "./abort-suite.js";

abortSuite("llama.cpp engine (tiny llama + tiny CLIP)", () => ({ model: tinyLlama(), projector: tinyClip() }), 100, ["image encode", "prompt evaluation", "candidate decoding", "stage-beam (judging, generate)"]);
