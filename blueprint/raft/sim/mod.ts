/**
 * The seeded Raft cluster simulator and its safety checkers. Run it from the command line
 * with `deno task sim --seeds N` or replay one seed with `deno task sim --seed S`.
 *
 * @example
 * ```ts
 * import { runSimulation } from "./mod.ts";
 * const result = runSimulation({ seed: 42 });
 * if (result.failure) throw new Error(`seed 42: ${result.failure}`);
 * ```
 *
 * @module
 */
export { runSimulation, type SimOptions, type SimResult, type SimStats } from "./simulator.ts";
export { entryHash, type NodeView, SafetyChecker, SafetyViolation } from "./checker.ts";
