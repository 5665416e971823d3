/**
 * Lowering the CPU priority of the calling thread, for background work (storage compaction)
 * that should take only the CPU the foreground (a writer, a node's Raft loop) leaves idle.
 *
 * On Linux the nice value belongs to each thread, not to the process (setpriority(2), NOTES),
 * and a Worker runs on a thread of its own: a Worker that calls {@link lowerThreadPriority}
 * lowers itself alone. The call goes to libc through Deno's FFI (`gettid`, `getpriority`,
 * `setpriority`); Deno has no API of its own for it. Without `--allow-ffi`, on another OS, or
 * with a libc that lacks a symbol, nothing changes and the call says so.
 *
 * @module
 */

/** Largest nice value (lowest priority) Linux accepts. */
export const MAX_NICE = 19;

/** `which` argument of get/setpriority: one process, or on Linux one thread by its id. */
const PRIO_PROCESS = 0;

const LIBC_SYMBOLS = {
  gettid: { parameters: [], result: "i32" },
  getpriority: { parameters: ["i32", "u32"], result: "i32" },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** libc's symbols once loaded in this isolate; null when they cannot be (tried once). */
let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
    // Kept open for the isolate's life: it is one small mapping, and closing it would
    // invalidate the symbols.
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Sets the calling thread's nice value to `nice` (0 = normal priority, {@link MAX_NICE} =
 * lowest) unless it already runs at that priority or lower. An unprivileged thread can lower
 * its priority but never raise it again.
 *
 * @returns true when the thread now runs at `nice` or lower priority; false when its priority
 *   could not be changed (not Linux, no FFI permission, no such libc symbol, or refused)
 * @throws RangeError when `nice` is not an integer in 0..19
 * @example
 * ```ts
 * // In a Worker that runs background jobs:
 * lowerThreadPriority(10);
 * ```
 */
export function lowerThreadPriority(nice: number): boolean {
  if (!Number.isInteger(nice) || nice < 0 || nice > MAX_NICE) {
    throw new RangeError(`nice must be an integer in 0..${MAX_NICE}, got ${nice}`);
  }
  const symbols = loadLibc();
  if (symbols === null) return false;
  const tid = symbols.gettid();
  // getpriority returns the nice value itself (-1 is a valid value; so is an error).
  if (symbols.getpriority(PRIO_PROCESS, tid) >= nice) return true;
  return symbols.setpriority(PRIO_PROCESS, tid, nice) === 0;
}

/**
 * The nice value of thread `tid` of this process, read from `/proc`; undefined where that
 * cannot be read (not Linux, no read permission, no such thread).
 */
export function threadNice(tid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
    // Fields after the command name (in parentheses, which may hold spaces): nice is the
    // 19th field of the line, the 17th after the name.
    const after_name = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const nice = Number(after_name[16]);
    return Number.isInteger(nice) ? nice : undefined;
  } catch {
    return undefined;
  }
}
