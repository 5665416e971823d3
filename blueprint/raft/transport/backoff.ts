/**
 * Reconnect back-off: capped exponential with jitter, so that peers restarted together do not
 * reconnect in lock step.
 *
 * @module
 */

/** Back-off tuning. */
export interface BackoffOptions {
  /** Delay before the first retry, before jitter (default 50 ms). */
  initial_delay_ms: number;
  /** Largest delay (default 2,000 ms). */
  max_delay_ms: number;
}

/** Defaults suited to a LAN Raft cluster (election timeouts of about a second). */
export const DEFAULT_BACKOFF: BackoffOptions = { initial_delay_ms: 50, max_delay_ms: 2_000 };

/**
 * Delay before retry number `attempt` (0-based): `min(max, initial * 2^attempt)` scaled by a
 * random factor in [0.5, 1).
 *
 * @param random uniform in [0, 1), injected so tests are deterministic
 * @example
 * ```ts
 * backoffDelayMs(3, DEFAULT_BACKOFF, Math.random); // between 200 and 400
 * ```
 */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number,
): number {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be an integer >= 0, got ${attempt}`);
  }
  const exponent = Math.min(attempt, 30);
  const ceiling = Math.min(options.max_delay_ms, options.initial_delay_ms * 2 ** exponent);
  return ceiling * (0.5 + random() / 2);
}
