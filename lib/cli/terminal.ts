// What the CLI writes where: the answer on stdout; progress, the live view and errors on stderr. Bars and
// the live view only on a TTY; colours only on a TTY without NO_COLOR.
export interface Terminal {
  readonly interactive: boolean;
  readonly color: boolean;
  /** Replaces the status line (TTY only). */
  status(text: string): void;
  /** A line on stderr, above the status line. */
  note(text: string): void;
  clear(): void;
  bar(label: string, fraction: number): void;
  dim(text: string): string;
  bold(text: string): string;
}

export function terminal(quiet = false, stream: NodeJS.WriteStream = process.stderr): Terminal {
  const interactive = Boolean(stream.isTTY) && !quiet;
  const color = interactive && process.env.NO_COLOR === undefined;
  let shown = false;
  const width = () => Math.max(20, (stream.columns ?? 80) - 1);
  const paint = (code: string, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    interactive,
    color,
    status(text) {
      if (!interactive) return;
      const line = text.replace(/\s+/g, " ");
      stream.write(`\r\x1b[2K${line.length > width() ? `${line.slice(0, width() - 1)}…` : line}`);
      shown = true;
    },
    note(text) {
      if (quiet) return;
      if (shown) stream.write("\r\x1b[2K");
      stream.write(`${text}\n`);
      shown = false;
    },
    clear() {
      if (shown) stream.write("\r\x1b[2K");
      shown = false;
    },
    bar(label, fraction) {
      if (!interactive) return;
      const size = 24;
      const filled = Math.round(Math.max(0, Math.min(1, fraction)) * size);
      this.status(`${label} [${"#".repeat(filled)}${"-".repeat(size - filled)}] ${Math.round(fraction * 100)}%`);
    },
    dim: (text) => paint("2", text),
    bold: (text) => paint("1", text),
  };
}
