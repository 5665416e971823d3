/**
 * Back-pressure on writers when level 0 grows faster than compaction drains it.
 *
 * @module
 */
import { StorageError } from "../errors.ts";
import type { CompactionOptions } from "./compaction_options.ts";

/** What a write must do before it may proceed: wait `delay_ms` (0 = go), or wait for compaction. */
export type WriteStall = { delay_ms: number } | "stop";

/**
 * Decides, from the level-0 file count alone, whether a write goes at once, is delayed a
 * little (spreading the slowdown over many writes instead of one long stop, as LevelDB does),
 * or must wait until compaction removes level-0 files.
 *
 * @example
 * ```ts
 * writeStall(3, DEFAULT_COMPACTION_OPTIONS);  // { delay_ms: 0 }
 * writeStall(20, DEFAULT_COMPACTION_OPTIONS); // { delay_ms: 1 }
 * writeStall(36, DEFAULT_COMPACTION_OPTIONS); // "stop"
 * ```
 */
export function writeStall(
  l0_file_count: number,
  options: Pick<
    CompactionOptions,
    "level0_slowdown_trigger" | "level0_stop_trigger" | "slowdown_delay_ms"
  >,
): WriteStall {
  if (!Number.isInteger(l0_file_count) || l0_file_count < 0) {
    throw new StorageError(
      `writeStall: l0_file_count must be a non-negative integer, got ${l0_file_count}`,
    );
  }
  if (l0_file_count >= options.level0_stop_trigger) return "stop";
  if (l0_file_count >= options.level0_slowdown_trigger) {
    return { delay_ms: options.slowdown_delay_ms };
  }
  return { delay_ms: 0 };
}

/**
 * Pays the slowdown delays that writes owe in sleeps this runtime can actually do: a timer
 * fires about 2.3 ms after it is set at the soonest (measured for `setTimeout` of 0 and 1 ms),
 * so sleeping each write's 1 ms would delay it more than twice as long as configured. Each
 * slowed write adds its delay to a debt; a write sleeps only while the debt is positive, and
 * the time actually slept pays it off, so writes are delayed by the configured time on
 * average. The credit a long sleep leaves is bounded by `max_credit_ms`, so one late timer
 * does not let a long run of writes through undelayed.
 *
 * @example
 * ```ts
 * const pacer = new SlowdownPacer(10);
 * const sleep_ms = pacer.owe(1); // 1: sleep now
 * pacer.paid(2.3);               // the timer took 2.3 ms: the next write owes nothing
 * pacer.owe(1);                  // 0
 * ```
 */
export class SlowdownPacer {
  #debt_ms = 0;

  /** @param max_credit_ms most sleep time carried over to later writes */
  constructor(readonly max_credit_ms: number) {}

  /** Adds one write's delay to the debt; returns how long that write should sleep (0: none). */
  owe(delay_ms: number): number {
    this.#debt_ms += delay_ms;
    return this.#debt_ms > 0 ? this.#debt_ms : 0;
  }

  /** Records that a write slept `slept_ms`. */
  paid(slept_ms: number): void {
    this.#debt_ms = Math.max(this.#debt_ms - slept_ms, -this.max_credit_ms);
  }
}
