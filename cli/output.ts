/**
 * How every command prints: aligned tables for people, one JSON object per line with
 * `--json` for scripts, and errors as one line on stderr with a non-zero exit code.
 *
 * @module
 */

/** Thrown by a command for a mistake the user can fix; printed without a stack trace. */
export class UsageError extends Error {
  /** @param message what was wrong and what is allowed */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Formats records as an aligned text table with the given columns. */
export function formatRecords(
  columns: string[],
  records: Record<string, unknown>[],
): string {
  const text = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  const rows = [
    columns.map((c) => c.toUpperCase()),
    ...records.map((r) => columns.map((c) => text(r[c]))),
  ];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** Prints records as a table, or as JSON lines when `json` is set. */
export function printRecords(
  columns: string[],
  records: Record<string, unknown>[],
  json: boolean,
): void {
  if (json) {
    for (const record of records) console.log(JSON.stringify(record));
  } else if (records.length > 0) {
    console.log(formatRecords(columns, records));
  }
}
