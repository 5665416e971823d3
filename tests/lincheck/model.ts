/**
 * The vocabulary of the linearizability checker: an {@link Operation} recorded by a client and
 * the sequential {@link Model} that says which outcomes an operation may have in a state.
 *
 * @module
 */

/**
 * One client call as the client saw it.
 *
 * The call took effect (if at all) at one instant between `call_ms` and `return_ms`. Times come
 * from one monotonic clock (`performance.now()`); equal times count as concurrent.
 *
 * @example
 * ```ts
 * const write: Operation<KvInput, KvOutput> = {
 *   client_id: 1,
 *   input: { op: "put", key: "x", value: "1" },
 *   call_ms: 10.5,
 *   output: null,
 *   return_ms: 12.25,
 * };
 * ```
 */
export interface Operation<I, O> {
  /** Which client issued the call; used only to explain results. */
  client_id: number;
  /** What the client asked for. */
  input: I;
  /** When the client sent the call. */
  call_ms: number;
  /**
   * What the client received; `undefined` when the outcome is unknown (a failed or timed-out
   * call), in which case the model must accept any outcome.
   */
  output?: O;
  /**
   * When the client received the answer; `Infinity` when the call failed or timed out: it may
   * or may not have taken effect, at any time after `call_ms`.
   */
  return_ms: number;
}

/** What {@link Model.step} decides for one operation applied to one state. */
export interface StepResult<S> {
  /** Whether the operation, with its recorded output, is allowed in the state. */
  ok: boolean;
  /** The state after the operation (meaningful only when `ok`). */
  state: S;
}

/**
 * A sequential specification: the checker searches for an order of the operations, consistent
 * with real time, in which every step of this model is allowed.
 *
 * States are values: `step` must not mutate the state it is given.
 *
 * @example
 * ```ts
 * // A single register: inputs are "read" or a number to write; reads output the value.
 * const register: Model<number, "read" | number, number> = {
 *   init: () => 0,
 *   step: (state, input, output) =>
 *     input === "read"
 *       ? { ok: output === undefined || output === state, state }
 *       : { ok: true, state: input },
 *   equal: (a, b) => a === b,
 *   hash: (state) => String(state),
 * };
 * ```
 */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * Applies `input` to `state` and says whether `output` is a possible answer. An `undefined`
   * output means "unknown outcome": the step must then accept (ok: true) and return the state
   * as if the operation took effect. That it may not have taken effect at all is covered by the
   * checker, which may place such an operation after every observed one.
   */
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  /**
   * Splits a history into independent parts (P-compositionality: a history is linearizable
   * iff every part is), for example by key. Must return the history's own operation objects,
   * each exactly once. Without it the history is checked whole.
   */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** Whether two states are the same (used to confirm a hash match in the search cache). */
  equal(a: S, b: S): boolean;
  /** A string that is equal for equal states (the search cache's key). */
  hash(state: S): string;
  /** Describes an operation for explanations, e.g. `get("x") -> "1"`. Default: JSON. */
  describeOperation?(input: I, output: O | undefined): string;
  /** Describes a state for explanations. Default: JSON. */
  describeState?(state: S): string;
  /**
   * Whether an input never changes the state (a read). Reads whose outcome is unknown
   * constrain nothing, so the checker drops them before searching.
   */
  isReadOnly?(input: I): boolean;
}
