// The fuzz classes, each with its own generator of cases and runner.
import * as gguf from "./gguf-cases.mjs";
import * as image from "./image-cases.mjs";
import * as text from "./text-cases.mjs";
import * as options from "./option-cases.mjs";
import * as cli from "./cli-cases.mjs";

export const classes = { gguf, image, text, options, cli };
