/**
 * A linearizability checker for the cluster tests: the algorithm of Wing and Gong with Lowe's
 * memoization (as porcupine does it), with P-compositionality (a history is split by key when
 * the model allows), unknown outcomes for failed or timed-out calls, a bounded search time, and
 * explanations that point at the smallest failing part of a history.
 *
 * @example
 * ```ts
 * import { checkOperations, HistoryRecorder, type KvInput, kvModel, type KvOutput } from "./mod.ts";
 *
 * const recorder = new HistoryRecorder<KvInput, KvOutput>();
 * await recorder.record(1, { op: "put", key: "x", value: "1" }, async () => {
 *   await client.put("x", "1");
 *   return null;
 * }, { timeout_ms: 2000 });
 * const outcome = checkOperations(kvModel, recorder.history(), { timeout_ms: 10_000 });
 * if (outcome.result !== "ok") throw new Error(outcome.explanation);
 * ```
 *
 * @module
 */
export type { Model, Operation, StepResult } from "./model.ts";
export { checkOperations, type CheckOptions, type CheckResult } from "./checker.ts";
export { type KvInput, kvModel, type KvOutput, type KvState } from "./kv_model.ts";
export {
  HistoryRecorder,
  type HistoryRecorderOptions,
  type RecordOptions,
  RecordTimeoutError,
} from "./history_recorder.ts";
