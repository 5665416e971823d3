/**
 * `HistoryRecorder`: wraps concurrent client calls and records each as an {@link Operation}
 * with monotonic call and return times, for {@link checkOperations}.
 *
 * @module
 */
import type { Operation } from "./model.ts";

/** Options of {@link HistoryRecorder}. */
export interface HistoryRecorderOptions {
  /** Monotonic milliseconds. Default `performance.now()`. */
  clock?: () => number;
  /** Bound on recorded operations; recording more throws. Default 1 000 000. */
  max_operations?: number;
}

/** Options of one {@link HistoryRecorder.record} call. */
export interface RecordOptions {
  /**
   * Give up waiting after this long: the call is recorded as unknown (it may still take
   * effect) and `record` rejects with {@link RecordTimeoutError}. Default: wait forever.
   */
  timeout_ms?: number;
  /**
   * Says whether an error proves the call did not take effect (e.g. rejected as invalid
   * before reaching the log). Such calls are left out of the history. Default: no error
   * proves that, so every failure is recorded as unknown.
   */
  definitelyNotApplied?: (error: unknown) => boolean;
}

/** Thrown by {@link HistoryRecorder.record} when a call exceeds its `timeout_ms`. */
export class RecordTimeoutError extends Error {
  /** @param timeout_ms the bound that passed */
  constructor(readonly timeout_ms: number) {
    super(`call did not return within ${timeout_ms} ms; recorded as unknown outcome`);
    this.name = "RecordTimeoutError";
  }
}

const DEFAULT_MAX_OPERATIONS = 1_000_000;

/**
 * Records a history of client calls. A call that succeeds gets its output and return time; a
 * call that throws or times out is recorded as unknown (`output` undefined, `return_ms`
 * Infinity), because it may have taken effect at any time after it was sent.
 *
 * @example
 * ```ts
 * const recorder = new HistoryRecorder<KvInput, KvOutput>();
 * await recorder.record(1, { op: "get", key: "x" }, () => client.get("x"), { timeout_ms: 2000 });
 * const outcome = checkOperations(kvModel, recorder.history());
 * ```
 */
export class HistoryRecorder<I, O> {
  private readonly operations: (Operation<I, O> & { pending: boolean; dropped: boolean })[] = [];
  private readonly clock: () => number;
  private readonly max_operations: number;

  /** @param options clock and bound; see {@link HistoryRecorderOptions} */
  constructor(options: HistoryRecorderOptions = {}) {
    this.clock = options.clock ?? (() => performance.now());
    this.max_operations = options.max_operations ?? DEFAULT_MAX_OPERATIONS;
    if (!Number.isSafeInteger(this.max_operations) || this.max_operations < 1) {
      throw new RangeError(
        `HistoryRecorder: max_operations is ${this.max_operations}; allowed: an integer >= 1`,
      );
    }
  }

  /**
   * Runs `call` as client `client_id`'s operation `input` and records it. Resolves with the
   * call's output; rejects with the call's error (or {@link RecordTimeoutError}).
   *
   * An output of `undefined` means "unknown" to the checker, so a call that answers "no value"
   * must resolve to `null` (as `kvModel` expects), or the answer goes unchecked.
   */
  async record(
    client_id: number,
    input: I,
    call: () => Promise<O>,
    options: RecordOptions = {},
  ): Promise<O> {
    const timeout_ms = options.timeout_ms ?? Infinity;
    if (!(timeout_ms > 0)) {
      throw new RangeError(`HistoryRecorder: timeout_ms is ${timeout_ms}; allowed: > 0`);
    }
    if (this.operations.length >= this.max_operations) {
      throw new RangeError(
        `HistoryRecorder: already ${this.operations.length} operations recorded; ` +
          `max_operations is ${this.max_operations}`,
      );
    }
    const operation = {
      client_id,
      input,
      call_ms: this.clock(),
      return_ms: Infinity,
      pending: true,
      dropped: false,
    } as Operation<I, O> & { pending: boolean; dropped: boolean };
    this.operations.push(operation);
    try {
      const output = await withTimeout(call(), timeout_ms);
      operation.return_ms = Math.max(operation.call_ms, this.clock());
      operation.output = output;
      return output;
    } catch (error) {
      operation.dropped = !(error instanceof RecordTimeoutError) &&
        options.definitelyNotApplied?.(error) === true;
      throw error;
    } finally {
      operation.pending = false;
    }
  }

  /**
   * The operations recorded so far, in call order, as fresh objects. Calls still in flight are
   * included as unknown (they may yet take effect).
   */
  history(): Operation<I, O>[] {
    return this.operations.filter((operation) => !operation.dropped).map((operation) => {
      const copy: Operation<I, O> = {
        client_id: operation.client_id,
        input: operation.input,
        call_ms: operation.call_ms,
        return_ms: operation.pending ? Infinity : operation.return_ms,
      };
      if (!operation.pending && operation.output !== undefined) copy.output = operation.output;
      return copy;
    });
  }

  /** How many calls have been recorded (including dropped ones). */
  get size(): number {
    return this.operations.length;
  }
}

/** Settles like `promise`, or rejects with {@link RecordTimeoutError} after `timeout_ms`. */
function withTimeout<T>(promise: Promise<T>, timeout_ms: number): Promise<T> {
  if (timeout_ms === Infinity) return promise;
  // A late settlement after the timeout is expected and deliberately ignored.
  promise.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RecordTimeoutError(timeout_ms)), timeout_ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
