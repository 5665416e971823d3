/**
 * Output shared by every benchmark: a table for people, or with `--json` one JSON object per
 * line for scripts.
 *
 * @module
 */

/** One measured row. `bench` and `impl` name it; every other field is a figure. */
export interface BenchRow {
  /** What was measured, e.g. "fillrandom". */
  bench: string;
  /** Whose implementation, e.g. "draft" or "leveldb". */
  impl: string;
  /** Figures with units in their names: ops_per_s, mb_per_s, p99_ms, peak_rss_mib, ... */
  [figure: string]: string | number;
}

/** Collects rows and prints them as they come (JSON) or as one table at the end (people). */
export class BenchReport {
  readonly rows: BenchRow[] = [];

  /** @param json print one JSON object per line instead of a table */
  constructor(readonly json: boolean) {}

  /** Records a row; in JSON mode prints it at once. */
  add(row: BenchRow): void {
    this.rows.push(row);
    if (this.json) console.log(JSON.stringify(row));
  }

  /** In table mode, prints all rows with one column per figure seen. */
  finish(): void {
    if (this.json || this.rows.length === 0) return;
    console.log(formatTable(this.rows));
  }
}

/** Formats rows as an aligned text table; numbers get at most 3 decimals. */
export function formatTable(rows: BenchRow[]): string {
  const columns: string[] = [];
  for (const row of rows) {
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  }
  const cell = (v: string | number | undefined) =>
    v === undefined ? "" : typeof v === "number" ? formatNumber(v) : v;
  const cells = [columns, ...rows.map((row) => columns.map((c) => cell(row[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) =>
    r.map((v, i) => (i < 2 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ")
  )
    .join("\n");
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3);
}

/** Percentile (0..100) of a sample, by nearest rank. */
export function percentile(sorted_values: number[], p: number): number {
  if (sorted_values.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted_values.length) - 1;
  return sorted_values[Math.min(sorted_values.length - 1, Math.max(0, rank))];
}

/** Resident set size of this process in MiB. */
export function rssMiB(): number {
  return Deno.memoryUsage().rss / (1024 * 1024);
}
