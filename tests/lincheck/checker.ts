/**
 * `checkOperations`: is a recorded history linearizable under a model?
 *
 * The history is split by the model's `partition` (P-compositionality), the parts are searched
 * smallest first with a fair share of the time budget each, and parts that ran out of their
 * share get what remains at the end. The first part found not linearizable is reported with
 * its operations, the longest linearization found and why nothing could follow it.
 *
 * @module
 */
import type { Model, Operation } from "./model.ts";
import { searchLinearization, type SearchResult } from "./search.ts";

/** Options of {@link checkOperations}. */
export interface CheckOptions {
  /** Total search time before answering "unknown". Default 30 000 ms; must be >= 0. */
  timeout_ms?: number;
  /**
   * Bound on the memoization cache of one part's search (memory); past it the part is
   * "unknown". Default 1 000 000 entries.
   */
  max_cache_entries?: number;
  /** At most this many operations are listed in an explanation. Default 100. */
  max_explained_operations?: number;
}

/** What {@link checkOperations} decided. */
export interface CheckResult<I, O> {
  /**
   * "ok": linearizable. "illegal": not linearizable (a violation). "unknown": no part is
   * illegal, but some part could not be decided within the time or memory bound.
   */
  result: "ok" | "illegal" | "unknown";
  /** On "illegal": the operations of the smallest failing part, in call order. */
  partition?: Operation<I, O>[];
  /** On "illegal": the longest linearization found for that part, in linearization order. */
  longest_linearizable_prefix?: Operation<I, O>[];
  /** A readable account of the decision; on "illegal", enough to find the bug. */
  explanation: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_CACHE_ENTRIES = 1_000_000;
const DEFAULT_MAX_EXPLAINED_OPERATIONS = 100;

/**
 * Checks `history` for linearizability under `model` (Wing and Gong's search with Lowe's
 * memoization, per part of the model's partition). Throws on malformed operations, naming
 * the operation and the rule it breaks.
 *
 * @example
 * ```ts
 * const outcome = checkOperations(kvModel, recorder.history(), { timeout_ms: 10_000 });
 * if (outcome.result === "illegal") throw new Error(outcome.explanation);
 * ```
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const limits = validateOptions(options);
  history.forEach(validateOperation);
  const index_of = new Map(history.map((operation, index) => [operation, index]));
  const parts = splitHistory(model, history).map((part) => withoutUnknownReads(model, part))
    .filter((part) => part.length > 0)
    .sort((a, b) => a.length - b.length);
  const outcome = searchParts(model, parts, limits);
  if (outcome.illegal !== undefined) {
    const { part, search } = outcome.illegal;
    return illegalResult(model, part, search, index_of, parts.length, limits);
  }
  if (outcome.undecided.length > 0) return unknownResult(outcome.undecided, parts.length, limits);
  return {
    result: "ok",
    explanation: `linearizable: ${history.length} operations in ${parts.length} parts`,
  };
}

interface PartSearch<I, O> {
  part: Operation<I, O>[];
  search: SearchResult;
}

/**
 * Searches the parts in order, each with a fair share of the time left, then gives the parts
 * that ran out of time what remains. Stops at the first illegal part.
 */
function searchParts<S, I, O>(
  model: Model<S, I, O>,
  parts: Operation<I, O>[][],
  limits: Limits,
): { illegal?: PartSearch<I, O>; undecided: PartSearch<I, O>[] } {
  const clock = () => performance.now();
  const deadline_ms = clock() + limits.timeout_ms;
  const searchPart = (part: Operation<I, O>[], part_deadline_ms: number) =>
    searchLinearization(model, part, {
      deadline_ms: part_deadline_ms,
      max_cache_entries: limits.max_cache_entries,
      clock,
    });
  const out_of_time: Operation<I, O>[][] = [];
  const undecided: PartSearch<I, O>[] = [];
  for (const [position, part] of parts.entries()) {
    const share_ms = (deadline_ms - clock()) / (parts.length - position);
    const search = searchPart(part, Math.min(deadline_ms, clock() + share_ms));
    if (search.outcome === "illegal") return { illegal: { part, search }, undecided };
    if (search.outcome === "timeout") out_of_time.push(part);
    if (search.outcome === "cache_full") undecided.push({ part, search });
  }
  for (const part of out_of_time) {
    const search = searchPart(part, deadline_ms);
    if (search.outcome === "illegal") return { illegal: { part, search }, undecided };
    if (search.outcome !== "ok") undecided.push({ part, search });
  }
  return { undecided };
}

interface Limits {
  timeout_ms: number;
  max_cache_entries: number;
  max_explained_operations: number;
}

function validateOptions(options: CheckOptions): Limits {
  const limits = {
    timeout_ms: options.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    max_cache_entries: options.max_cache_entries ?? DEFAULT_MAX_CACHE_ENTRIES,
    max_explained_operations: options.max_explained_operations ??
      DEFAULT_MAX_EXPLAINED_OPERATIONS,
  };
  if (!(limits.timeout_ms >= 0) || !Number.isFinite(limits.timeout_ms)) {
    throw new RangeError(
      `lincheck: timeout_ms is ${limits.timeout_ms}; allowed: a finite number >= 0`,
    );
  }
  for (const name of ["max_cache_entries", "max_explained_operations"] as const) {
    if (!Number.isSafeInteger(limits[name]) || limits[name] < 1) {
      throw new RangeError(`lincheck: ${name} is ${limits[name]}; allowed: an integer >= 1`);
    }
  }
  return limits;
}

function validateOperation(operation: Operation<unknown, unknown>, index: number): void {
  const where = `lincheck: history[${index}]`;
  if (operation === null || typeof operation !== "object") {
    throw new TypeError(`${where} is ${operation}; allowed: an Operation object`);
  }
  const { client_id, call_ms, return_ms } = operation;
  if (typeof client_id !== "number" || !Number.isFinite(client_id)) {
    throw new TypeError(`${where}.client_id is ${client_id}; allowed: a finite number`);
  }
  if (typeof call_ms !== "number" || !Number.isFinite(call_ms)) {
    throw new TypeError(`${where}.call_ms is ${call_ms}; allowed: a finite number`);
  }
  if (typeof return_ms !== "number" || Number.isNaN(return_ms) || return_ms < call_ms) {
    throw new RangeError(
      `${where}.return_ms is ${return_ms} with call_ms ${call_ms}; allowed: a number >= ` +
        `call_ms, or Infinity for a call that failed or timed out`,
    );
  }
}

/** The model's partition, checked to cover the history exactly once. */
function splitHistory<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
): Operation<I, O>[][] {
  if (model.partition === undefined) return [history.slice()];
  const parts = model.partition(history);
  const seen = new Set<Operation<I, O>>();
  const members = new Set(history);
  for (const part of parts) {
    for (const operation of part) {
      if (!members.has(operation) || seen.has(operation)) {
        throw new Error(
          "lincheck: model.partition() must return the history's own operation objects, each " +
            "exactly once",
        );
      }
      seen.add(operation);
    }
  }
  if (seen.size !== members.size) {
    throw new Error(
      `lincheck: model.partition() covered ${seen.size} of ${members.size} operations; ` +
        "it must return every operation of the history",
    );
  }
  return parts.map((part) => part.slice());
}

/** Reads with unknown outcome constrain nothing; dropping them shrinks the search. */
function withoutUnknownReads<S, I, O>(
  model: Model<S, I, O>,
  part: Operation<I, O>[],
): Operation<I, O>[] {
  const isReadOnly = model.isReadOnly;
  if (isReadOnly === undefined) return part;
  return part.filter((operation) =>
    operation.output !== undefined || !isReadOnly.call(model, operation.input)
  );
}

function illegalResult<S, I, O>(
  model: Model<S, I, O>,
  part: Operation<I, O>[],
  search: SearchResult,
  index_of: Map<Operation<I, O>, number>,
  part_count: number,
  limits: Limits,
): CheckResult<I, O> {
  const in_call_order = part.slice().sort((a, b) => a.call_ms - b.call_ms);
  const longest = search.longest.map((index) => part[index]);
  const explanation = explainIllegal(model, in_call_order, longest, index_of, part_count, limits);
  return {
    result: "illegal",
    partition: in_call_order,
    longest_linearizable_prefix: longest,
    explanation,
  };
}

function unknownResult<I, O>(
  undecided: PartSearch<I, O>[],
  part_count: number,
  limits: Limits,
): CheckResult<I, O> {
  const lines = undecided.map(({ part, search }) =>
    `  a part of ${part.length} operations: ${
      search.outcome === "timeout"
        ? `out of time (timeout_ms ${limits.timeout_ms})`
        : `cache full (max_cache_entries ${limits.max_cache_entries})`
    } after ${search.iterations} steps, longest linearization ${search.longest.length}`
  );
  return {
    result: "unknown",
    explanation: [
      `unknown: ${undecided.length} of ${part_count} parts undecided, none found illegal:`,
      ...lines,
    ].join("\n"),
  };
}

function explainIllegal<S, I, O>(
  model: Model<S, I, O>,
  in_call_order: Operation<I, O>[],
  longest: Operation<I, O>[],
  index_of: Map<Operation<I, O>, number>,
  part_count: number,
  limits: Limits,
): string {
  const describe = (operation: Operation<I, O>) =>
    `#${index_of.get(operation)} client ${operation.client_id} ` +
    describeOperation(model, operation.input, operation.output);
  const linearized = new Set(longest);
  const candidates = nextCandidates(in_call_order.filter((entry) => !linearized.has(entry)));
  const window = explainedWindow(in_call_order, candidates[0], limits.max_explained_operations);
  const replay = replayLinearization(model, longest, describe, limits.max_explained_operations);
  const final_state = describeState(model, replay.state);
  return [
    `not linearizable: a part of ${in_call_order.length} operations fails ` +
    `(of ${part_count} parts, checked smallest first)`,
    "operations in call order [call_ms, return_ms]:",
    ...window.map((entry) =>
      typeof entry === "string"
        ? `  ${entry}`
        : `  [${formatMs(entry.call_ms)}, ${formatMs(entry.return_ms)}] ${describe(entry)}`
    ),
    `longest linearization found (${longest.length} of ${in_call_order.length}):`,
    ...replay.lines,
    `no remaining operation may come next in state ${final_state}:`,
    ...candidates.slice(0, limits.max_explained_operations).map((operation) =>
      `  ${describe(operation)}: ${
        model.step(replay.state, operation.input, operation.output).ok
          ? "allowed here, but every order after it fails"
          : "not allowed in this state"
      }`
    ),
  ].join("\n");
}

/** Steps through a linearization, describing its last `limit` operations with their states. */
function replayLinearization<S, I, O>(
  model: Model<S, I, O>,
  order: Operation<I, O>[],
  describe: (operation: Operation<I, O>) => string,
  limit: number,
): { lines: string[]; state: S } {
  const lines: string[] = [];
  const shown_from = Math.max(0, order.length - limit);
  if (shown_from > 0) lines.push(`  ... ${shown_from} earlier operations`);
  let state = model.init();
  for (const [position, operation] of order.entries()) {
    state = model.step(state, operation.input, operation.output).state;
    if (position >= shown_from) {
      lines.push(`  ${describe(operation)}  => ${describeState(model, state)}`);
    }
  }
  return { lines, state };
}

/**
 * Remaining operations that could be linearized next: those called no later than the earliest
 * return among the remaining ones.
 */
function nextCandidates<I, O>(remaining: Operation<I, O>[]): Operation<I, O>[] {
  let earliest_return_ms = Infinity;
  for (const operation of remaining) {
    earliest_return_ms = Math.min(earliest_return_ms, operation.return_ms);
  }
  return remaining.filter((operation) => operation.call_ms <= earliest_return_ms);
}

/** At most `limit` operations around `focus`, with notes where some are left out. */
function explainedWindow<I, O>(
  in_call_order: Operation<I, O>[],
  focus: Operation<I, O> | undefined,
  limit: number,
): (Operation<I, O> | string)[] {
  if (in_call_order.length <= limit) return in_call_order;
  const focus_index = focus === undefined ? 0 : in_call_order.indexOf(focus);
  const start = Math.max(
    0,
    Math.min(focus_index - Math.floor(limit / 2), in_call_order.length - limit),
  );
  const end = start + limit;
  const window: (Operation<I, O> | string)[] = in_call_order.slice(start, end);
  if (start > 0) window.unshift(`... ${start} earlier operations`);
  if (end < in_call_order.length) window.push(`... ${in_call_order.length - end} later operations`);
  return window;
}

function describeOperation<S, I, O>(model: Model<S, I, O>, input: I, output: O | undefined) {
  if (model.describeOperation !== undefined) return model.describeOperation(input, output);
  return `${JSON.stringify(input)} -> ${output === undefined ? "?" : JSON.stringify(output)}`;
}

function describeState<S, I, O>(model: Model<S, I, O>, state: S): string {
  if (model.describeState !== undefined) return model.describeState(state);
  return JSON.stringify(state) ?? String(state);
}

function formatMs(time_ms: number): string {
  return Number.isFinite(time_ms) ? time_ms.toFixed(3) : "never";
}
