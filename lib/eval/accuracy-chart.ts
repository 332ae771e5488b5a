// An SVG scatter of accuracy against mean wall time per row, one point per strategy with its 95%
// interval as a vertical bar: the trade a user chooses along. Plain SVG written here — a chart library
// would be a dependency for a dozen shapes.
import type { StrategySummary } from "./summary.js";

const W = 640;
const H = 400;
const M = { left: 64, right: 24, top: 32, bottom: 56 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
const fixed = (x: number) => Number(x.toFixed(2));

/** Round tick steps (1, 2, 5 × 10^k) covering [0, max]. */
function ticks(max: number, count = 5): number[] {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

export function accuracyChart(summaries: StrategySummary[], title = "Accuracy against wall time"): string {
  const seconds = summaries.map((s) => s.mean.wallMs / 1000);
  const xTicks = ticks(Math.max(...seconds, 1e-3) * 1.1);
  const xMax = xTicks.at(-1)!;
  const x = (v: number) => fixed(M.left + (v / xMax) * (W - M.left - M.right));
  const y = (v: number) => fixed(H - M.bottom - v * (H - M.top - M.bottom));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${escape(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
  ];
  for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 6}" y="${y(t) + 4}" text-anchor="end">${Math.round(t * 100)}%</text>`);
  }
  for (const t of xTicks) {
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${H - M.bottom}" y2="${H - M.bottom + 4}" stroke="#333"/>`);
    parts.push(`<text x="${x(t)}" y="${H - M.bottom + 18}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/>`);
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 14}" text-anchor="middle">mean wall time per row (s)</text>`);
  parts.push(`<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">accuracy (95% interval)</text>`);
  summaries.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const cx = x(seconds[i]!);
    const label = `${s.run.label}${s.run.judge ? ` (${s.run.judge})` : ""}`;
    parts.push(`<g class="strategy" data-key="${escape(s.key)}">`);
    parts.push(`<title>${escape(`${label}: ${(100 * s.accuracy.accuracy).toFixed(1)}% [${(100 * s.accuracy.low).toFixed(1)}, ${(100 * s.accuracy.high).toFixed(1)}], ${seconds[i]!.toFixed(2)} s/row, n=${s.accuracy.rows}`)}</title>`);
    parts.push(`<line x1="${cx}" x2="${cx}" y1="${y(s.accuracy.low)}" y2="${y(s.accuracy.high)}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<circle cx="${cx}" cy="${y(s.accuracy.accuracy)}" r="5" fill="${colour}"/>`);
    parts.push(`<text x="${fixed(cx + 8)}" y="${fixed(y(s.accuracy.accuracy) - 6)}" fill="${colour}">${escape(label)}</text>`);
    parts.push("</g>");
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
