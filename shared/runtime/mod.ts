/**
 * Runtime settings for the long-running processes the product starts (cluster members):
 * memory the runtime itself holds, not the product's own buffers, which are bounded where
 * they are made.
 *
 * - `DENO_V8_FLAGS=--max-semi-space-size=4`: V8 grows each isolate's young generation up to
 *   16 MiB per semi-space under a high allocation rate, in the main isolate and in every
 *   Worker alike; 4 MiB keeps the same throughput (storage, registry and KV benchmarks
 *   alternated) and takes 50-100 MiB off a storage process's peak.
 * - `MALLOC_TRIM_THRESHOLD_` and `MALLOC_MMAP_THRESHOLD_` at 128 KiB: glibc otherwise raises
 *   both after the first large buffer is freed (up to 32 MiB), then keeps freed memory
 *   mapped: a storage process held 30-60 MiB of it.
 *
 * `scripts/deno` sets the same defaults for everything it runs; a value already in the
 * environment always wins.
 *
 * @module
 */

/** The settings and their defaults. */
export const RUNTIME_ENV_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  DENO_V8_FLAGS: "--max-semi-space-size=4",
  MALLOC_TRIM_THRESHOLD_: "131072",
  MALLOC_MMAP_THRESHOLD_: "131072",
});

/**
 * The environment entries to add when spawning a member process: each default of
 * {@link RUNTIME_ENV_DEFAULTS} that `lookup` (by default this process's environment) does not
 * set.
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args, env: runtimeEnv() });
 * ```
 */
export function runtimeEnv(
  lookup: (name: string) => string | undefined = processEnv,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(RUNTIME_ENV_DEFAULTS)) {
    if (lookup(name) === undefined) env[name] = value;
  }
  return env;
}

/** A variable of this process's environment, or undefined (also without env permission). */
function processEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

export { lowerThreadPriority, MAX_NICE, threadNice } from "./thread_priority.ts";
export { yieldToEventLoop } from "./event_loop.ts";
