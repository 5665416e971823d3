/**
 * `deno task bench NAME [--quick] [--json]`: runs one benchmark suite (or all, with no name).
 *
 * Each suite is `scripts/bench/NAME.ts` exporting `run(args)`. Benchmarks live apart from the
 * tests: speed and memory are measured here, behaviour is asserted in `deno test`.
 *
 * @module
 */

/** Suites by name, loaded on demand so one suite's dependencies do not slow another. */
const SUITES: Record<string, string> = {
  channel: "./channel.ts",
  storage: "./storage.ts",
  raft: "./raft.ts",
  blueprint: "./blueprint.ts",
  registry: "./registry.ts",
};

/** A suite module's face. */
export interface BenchSuite {
  /** Runs the suite with the command-line arguments after its name. */
  run(args: string[]): Promise<void>;
}

async function main(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  if (name === undefined || name.startsWith("-")) {
    for (const suite of Object.keys(SUITES)) await runSuite(suite, args);
    return;
  }
  if (!(name in SUITES)) {
    console.error(`unknown benchmark "${name}"; choose one of: ${Object.keys(SUITES).join(", ")}`);
    Deno.exit(2);
  }
  await runSuite(name, rest);
}

async function runSuite(name: string, args: string[]): Promise<void> {
  const suite: BenchSuite = await import(SUITES[name]);
  await suite.run(args);
}

if (import.meta.main) await main(Deno.args);
