/**
 * How long the checker takes on histories shaped like the cluster tests' (few keys, 8
 * clients, overlapping calls, some failed calls), linearizable and with one bad read.
 *
 * `./scripts/deno run -A tests/lincheck/lincheck_benchmark.ts [--quick] [--json]`
 * (also usable as a `scripts/bench` suite through {@link run}).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BenchReport } from "../../scripts/bench/report.ts";
import { checkOperations, kvModel } from "./mod.ts";
import { type GeneratedHistoryShape, generateKvHistory, mulberry32 } from "./testing.ts";

const SCENARIOS: (GeneratedHistoryShape & { name: string })[] = [
  { name: "10 keys, calm", operation_count: 10_000, key_count: 10, failure_rate: 0, jitter_ms: 30 },
  {
    name: "10 keys, 5% failed",
    operation_count: 10_000,
    key_count: 10,
    failure_rate: 0.05,
    jitter_ms: 30,
  },
  {
    name: "1 key, 5% failed",
    operation_count: 2_000,
    key_count: 1,
    failure_rate: 0.05,
    jitter_ms: 30,
  },
  {
    name: "1 key, 5% failed, 16 in flight",
    operation_count: 2_000,
    key_count: 1,
    failure_rate: 0.05,
    jitter_ms: 80,
  },
  {
    name: "10 keys, 2% failed, large",
    operation_count: 100_000,
    key_count: 10,
    failure_rate: 0.02,
    jitter_ms: 50,
  },
];

const SEED = 20261126;
const TIMEOUT_MS = 10_000;

/** Runs every scenario (`--quick`: a tenth of the operations) and reports timings. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { quick: { type: "boolean" }, json: { type: "boolean" } },
  });
  const report = new BenchReport(values.json === true);
  for (const scenario of SCENARIOS) {
    const shape = {
      ...scenario,
      operation_count: values.quick ? scenario.operation_count / 10 : scenario.operation_count,
    };
    const history = generateKvHistory(shape, mulberry32(SEED));
    report.add(measure(scenario.name, "linearizable", history));
    const read = history.findLast((operation) =>
      operation.input.op === "get" && operation.output !== undefined
    );
    if (read !== undefined) read.output = "never written";
    report.add(measure(scenario.name, "one bad read", history));
    await Promise.resolve();
  }
  report.finish();
}

function measure(bench: string, impl: string, history: ReturnType<typeof generateKvHistory>) {
  const start_ms = performance.now();
  const outcome = checkOperations(kvModel, history, { timeout_ms: TIMEOUT_MS });
  const check_ms = performance.now() - start_ms;
  return {
    bench,
    impl,
    operations: history.length,
    result: outcome.result,
    check_ms,
    ops_per_s: Math.round(history.length / (check_ms / 1000)),
  };
}

if (import.meta.main) await run(Deno.args);
