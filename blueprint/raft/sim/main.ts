/**
 * Command line for the Raft simulation.
 *
 *   deno task sim --seeds 200          run seeds 1..200
 *   deno task sim --seeds 50 --from 7  run seeds 7..56
 *   deno task sim --seed 42            replay seed 42 exactly (prints its counters and,
 *                                      on failure, the last events before it)
 *
 * Exits 1 on the first failing seed, printing the seed and the exact replay command.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runSimulation, type SimResult } from "./simulator.ts";

/** Parse arguments, run the seeds, report; returns the process exit code. */
export function main(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      seeds: { type: "string" },
      seed: { type: "string" },
      from: { type: "string", default: "1" },
      "chaos-ticks": { type: "string" },
    },
    strict: true,
  });
  const parse = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`--${name} must be a non-negative integer, got "${text}"`);
    }
    return n;
  };
  const single = parse("seed", values.seed);
  const chaos_ticks = parse("chaos-ticks", values["chaos-ticks"]);
  const from = parse("from", values.from) ?? 1;
  const seeds = single !== undefined
    ? [single]
    : Array.from({ length: parse("seeds", values.seeds) ?? 100 }, (_, i) => from + i);
  const started_ms = performance.now();
  let committed = 0;
  for (const seed of seeds) {
    const result: SimResult = runSimulation({ seed, chaos_ticks });
    committed += result.stats.committed;
    if (single !== undefined) console.log(JSON.stringify(result.stats));
    if (result.failure) {
      if (single !== undefined) { for (const event of result.events) console.error(event); }
      console.error(`FAIL seed ${seed}: ${result.failure}`);
      const ticks_flag = chaos_ticks === undefined ? "" : ` --chaos-ticks ${chaos_ticks}`;
      console.error(`replay: deno task sim --seed ${seed}${ticks_flag}`);
      return 1;
    }
  }
  const elapsed_s = ((performance.now() - started_ms) / 1000).toFixed(1);
  console.log(`ok: ${seeds.length} seeds, ${committed} entries committed, ${elapsed_s} s`);
  return 0;
}

const USAGE = "usage: deno task sim [--seeds N] [--from FIRST] [--seed S] [--chaos-ticks T]";

if (import.meta.main) {
  try {
    Deno.exit(main(Deno.args));
  } catch (error) {
    if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    Deno.exit(2);
  }
}
