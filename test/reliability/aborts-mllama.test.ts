// Aborts at every point on stagebeam's own mllama engine: the tiny random-weight Llama 3.2 Vision pair.
import { tinyMllama } from "../fixtures/models.js";
import { abortSuite } from "./abort-suite.js";

abortSuite("mllama engine (tiny mllama pair)", tinyMllama, 300, ["image encode", "prompt evaluation", "candidate decoding"]);
