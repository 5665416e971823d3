/**
 * Helpers for the checker's own tests: terse history builders, a brute-force reference
 * checker, and a seed for property tests that prints itself on failure.
 *
 * @module
 */
import { fc } from "../../dev_deps.ts";
import type { KvInput, KvOutput } from "./kv_model.ts";
import type { Model, Operation } from "./model.ts";

/** A key/value operation record. */
export type KvOperation = Operation<KvInput, KvOutput>;

/** `put(key, value)` called at `call_ms`, returned at `return_ms` (Infinity: unknown). */
export function put(
  client_id: number,
  key: string,
  value: string,
  call_ms: number,
  return_ms: number,
): KvOperation {
  const operation: KvOperation = {
    client_id,
    input: { op: "put", key, value },
    call_ms,
    return_ms,
  };
  if (Number.isFinite(return_ms)) operation.output = null;
  return operation;
}

/** `get(key) -> output` called at `call_ms`, returned at `return_ms`. */
export function get(
  client_id: number,
  key: string,
  output: string | null | undefined,
  call_ms: number,
  return_ms: number,
): KvOperation {
  return { client_id, input: { op: "get", key }, call_ms, output, return_ms };
}

/** `cas(key, expected => value) -> output` called at `call_ms`, returned at `return_ms`. */
export function cas(
  client_id: number,
  key: string,
  expected: string | null,
  value: string,
  output: boolean | undefined,
  call_ms: number,
  return_ms: number,
): KvOperation {
  return { client_id, input: { op: "cas", key, expected, value }, call_ms, output, return_ms };
}

/** `delete(key) -> existed` called at `call_ms`, returned at `return_ms`. */
export function del(
  client_id: number,
  key: string,
  output: boolean | null | undefined,
  call_ms: number,
  return_ms: number,
): KvOperation {
  return { client_id, input: { op: "delete", key }, call_ms, output, return_ms };
}

/** Bound on the reference checker's input: it tries every order. */
const BRUTE_FORCE_MAX_OPERATIONS = 9;

/**
 * The definition of linearizability, checked by trying every order that respects real time
 * (no memoization, no partitions, no dropped reads): the reference the fast checker must match.
 */
export function isLinearizableByBruteForce<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
): boolean {
  if (history.length > BRUTE_FORCE_MAX_OPERATIONS) {
    throw new RangeError(
      `brute force: ${history.length} operations; allowed: at most ${BRUTE_FORCE_MAX_OPERATIONS}`,
    );
  }
  const extend = (remaining: readonly Operation<I, O>[], state: S): boolean => {
    if (remaining.length === 0) return true;
    return remaining.some((candidate) => {
      const preceded = remaining.some((other) => other.return_ms < candidate.call_ms);
      if (preceded) return false;
      const step = model.step(state, candidate.input, candidate.output);
      return step.ok && extend(remaining.filter((other) => other !== candidate), step.state);
    });
  };
  return extend(history, model.init());
}

/**
 * Runs a fast-check property with a seed from `LINCHECK_SEED` or a random one, and prints how
 * to replay it when it fails.
 */
export function assertSeededProperty<T>(
  property: fc.IProperty<T>,
  parameters: { num_runs: number },
): void {
  const seed = Number(Deno.env.get("LINCHECK_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  try {
    fc.assert(property, { seed, numRuns: parameters.num_runs });
  } catch (error) {
    console.error(`failed with seed ${seed}; replay with LINCHECK_SEED=${seed}`);
    throw error;
  }
}
