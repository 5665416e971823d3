/**
 * Helpers for the checker's own tests: terse history builders, a brute-force reference
 * checker, and a seed for property tests that prints itself on failure.
 *
 * @module
 */
import { fc } from "../../dev_deps.ts";
import type { KvInput, KvOutput } from "./kv_model.ts";
import type { Model, Operation } from "./model.ts";
/** The shared seeded generator (mulberry32): numbers in [0, 1). */
export { seededRandom as mulberry32 } from "../../shared/random/mod.ts";

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

/** Shape of a generated history; see {@link generateKvHistory}. */
export interface GeneratedHistoryShape {
  /** How many operations. */
  operation_count: number;
  /** How many distinct keys (so how many parts). */
  key_count: number;
  /** Share of calls that fail (half after taking effect, half before), in [0, 1]. */
  failure_rate: number;
  /** Each interval reaches up to this far before and after its instant; instants are 10 ms apart. */
  jitter_ms: number;
}

/**
 * A history recorded from a real sequential execution of random puts, gets and compare-and-
 * swaps (a third expecting a stale value), with jittered intervals around each instant, so it
 * is linearizable by construction.
 */
export function generateKvHistory(
  shape: GeneratedHistoryShape,
  random: () => number,
): KvOperation[] {
  const store = new Map<string, string>();
  const history: KvOperation[] = [];
  for (let index = 0; index < shape.operation_count; index++) {
    const key = `k${Math.floor(random() * shape.key_count)}`;
    const input = randomInput(key, `${index}`, store, random);
    const failure = random() < shape.failure_rate ? (random() < 0.5 ? "applied" : "lost") : "none";
    const output = failure === "lost" ? undefined : applyToStore(store, input);
    const instant_ms = 10 * index;
    const operation: KvOperation = {
      client_id: index % 8,
      input,
      call_ms: instant_ms - random() * shape.jitter_ms,
      return_ms: failure === "none" ? instant_ms + random() * shape.jitter_ms : Infinity,
    };
    if (failure === "none") operation.output = output;
    history.push(operation);
  }
  return history;
}

function randomInput(
  key: string,
  value: string,
  store: Map<string, string>,
  random: () => number,
): KvInput {
  const roll = random();
  if (roll < 0.4) return { op: "get", key };
  if (roll < 0.75) return { op: "put", key, value };
  const expected = random() < 0.3 ? "stale" : store.get(key) ?? null;
  return { op: "cas", key, expected, value };
}

/** Applies `input` to a plain map the way a correct store would, and returns its output. */
export function applyToStore(store: Map<string, string>, input: KvInput): KvOutput {
  const current = store.get(input.key) ?? null;
  switch (input.op) {
    case "put":
      store.set(input.key, input.value);
      return null;
    case "get":
      return current;
    case "cas":
      if (current !== input.expected) return false;
      store.set(input.key, input.value);
      return true;
    case "delete":
      store.delete(input.key);
      return current !== null;
  }
}
