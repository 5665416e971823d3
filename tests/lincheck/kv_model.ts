/**
 * A ready model of a key/value store with put, get, compare-and-swap and delete, partitioned
 * by key (operations on different keys never constrain each other).
 *
 * @module
 */
import type { Model, Operation, StepResult } from "./model.ts";

/**
 * A key/value operation. Outputs by kind:
 * - `put`: ignored (use `null`); a put always succeeds.
 * - `get`: the value read, `null` for a missing key.
 * - `cas`: `true` if the value was `expected` (`null`: the key was missing) and is now
 *   `value`, `false` if it was something else and nothing changed.
 * - `delete`: `true`/`false` whether the key existed, or `null` if the client did not observe it.
 */
export type KvInput =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "get"; readonly key: string }
  | {
    readonly op: "cas";
    readonly key: string;
    readonly expected: string | null;
    readonly value: string;
  }
  | { readonly op: "delete"; readonly key: string };

/** A key/value operation's output; see {@link KvInput} for which kind outputs what. */
export type KvOutput = string | boolean | null;

/** The store's contents: key to value. Never mutated; a write makes a new map. */
export type KvState = ReadonlyMap<string, string>;

const KV_OPERATION_KINDS = '"put", "get", "cas", "delete"';

/**
 * The key/value model: one register per key, checked per key.
 *
 * @example
 * ```ts
 * const history: Operation<KvInput, KvOutput>[] = [
 *   { client_id: 1, input: { op: "put", key: "x", value: "1" }, call_ms: 0, output: null, return_ms: 5 },
 *   { client_id: 2, input: { op: "get", key: "x" }, call_ms: 6, output: "1", return_ms: 9 },
 * ];
 * checkOperations(kvModel, history).result; // "ok"
 * ```
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => new Map(),
  step: stepKv,
  partition: partitionByKey,
  equal: (a, b) => a.size === b.size && [...a].every(([key, value]) => b.get(key) === value),
  hash: hashKvState,
  describeOperation: describeKvOperation,
  describeState: (state) =>
    state.size === 0
      ? "{}"
      : `{${[...state].map(([key, value]) => `${quote(key)}: ${quote(value)}`).join(", ")}}`,
  isReadOnly: (input) => input.op === "get",
};

function stepKv(
  state: KvState,
  input: KvInput,
  output: KvOutput | undefined,
): StepResult<KvState> {
  const current = state.get(input.key) ?? null;
  switch (input.op) {
    case "put":
      return { ok: true, state: withValue(state, input.key, input.value) };
    case "get":
      expectOutput(input, output, "a string or null", (value) => value !== true && value !== false);
      return { ok: output === undefined || output === current, state };
    case "cas": {
      expectOutput(input, output, "a boolean", (value) => typeof value === "boolean");
      const swapped = current === input.expected;
      if (output !== undefined && output !== swapped) return { ok: false, state };
      return { ok: true, state: swapped ? withValue(state, input.key, input.value) : state };
    }
    case "delete": {
      expectOutput(input, output, "a boolean or null", (value) => typeof value !== "string");
      const existed = current !== null;
      const ok = output === undefined || output === null || output === existed;
      return { ok, state: existed ? withValue(state, input.key, null) : state };
    }
    default:
      throw new TypeError(
        `lincheck kvModel: unknown op ${JSON.stringify((input as { op: unknown }).op)}; ` +
          `allowed: ${KV_OPERATION_KINDS}`,
      );
  }
}

function expectOutput(
  input: KvInput,
  output: KvOutput | undefined,
  allowed: string,
  isAllowed: (value: KvOutput) => boolean,
): void {
  if (output === undefined || isAllowed(output)) return;
  throw new TypeError(
    `lincheck kvModel: ${input.op}(${quote(input.key)}) has output ${
      JSON.stringify(output)
    }; allowed: ${allowed}, or undefined when unknown`,
  );
}

/** Length-prefixed entries in key order: distinct states get distinct strings. */
function hashKvState(state: KvState): string {
  const entries = state.size <= 1 ? [...state] : [...state].sort(([a], [b]) => a < b ? -1 : 1);
  let text = "";
  for (const [key, value] of entries) text += `${key.length}:${key}${value.length}:${value}`;
  return text;
}

function withValue(state: KvState, key: string, value: string | null): KvState {
  const next = new Map(state);
  if (value === null) next.delete(key);
  else next.set(key, value);
  return next;
}

function partitionByKey(
  history: readonly Operation<KvInput, KvOutput>[],
): Operation<KvInput, KvOutput>[][] {
  const by_key = new Map<string, Operation<KvInput, KvOutput>[]>();
  for (const [index, operation] of history.entries()) {
    const key = operation.input?.key;
    if (typeof key !== "string") {
      throw new TypeError(
        `lincheck kvModel: history[${index}].input.key is ${JSON.stringify(key)}; ` +
          "allowed: a string",
      );
    }
    const part = by_key.get(key);
    if (part === undefined) by_key.set(key, [operation]);
    else part.push(operation);
  }
  return [...by_key.values()];
}

function describeKvOperation(input: KvInput, output: KvOutput | undefined): string {
  const result = output === undefined ? "?" : JSON.stringify(output);
  switch (input.op) {
    case "put":
      return `put(${quote(input.key)}, ${quote(input.value)})${output === undefined ? " ?" : ""}`;
    case "get":
      return `get(${quote(input.key)}) -> ${result}`;
    case "cas":
      return `cas(${quote(input.key)}, ${quote(input.expected)} => ${
        quote(input.value)
      }) -> ${result}`;
    case "delete":
      return `delete(${quote(input.key)}) -> ${result}`;
    default:
      return JSON.stringify(input);
  }
}

function quote(text: string | null): string {
  return text === null ? "null" : JSON.stringify(text);
}
