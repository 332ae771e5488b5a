// Tab-separated values as pandas writes them (VLMEvalKit saves its benchmarks with DataFrame.to_csv
// sep="\t"): fields may be double-quoted, a quoted field may hold tabs, newlines and doubled quotes.
// Parsed into rows of fields, each with the line it starts on.

export interface TsvRow {
  line: number;
  fields: string[];
}

export function parseTsv(text: string): TsvRow[] {
  const rows: TsvRow[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let rowLine = 1;
  let quoted = false;
  let atFieldStart = true;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === "")) rows.push({ line: rowLine, fields });
    fields = [];
    field = "";
    atFieldStart = true;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === "\n") line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
    } else if (c === "\t") {
      fields.push(field);
      field = "";
      atFieldStart = true;
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      field += c;
      atFieldStart = false;
    }
  }
  if (field.length > 0 || fields.length > 0) endRow();
  return rows;
}

/** A field as pandas would write it: quoted when it holds a tab, a newline or a quote. */
export function tsvField(value: string): string {
  return /[\t\n\r"]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
