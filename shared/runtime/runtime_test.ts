import assert from "node:assert/strict";
import {
  lowerThreadPriority,
  RUNTIME_ENV_DEFAULTS,
  runtimeEnv,
  threadNice,
  yieldToEventLoop,
} from "./mod.ts";

Deno.test("runtimeEnv adds every default the parent environment lacks", () => {
  assert.deepEqual(runtimeEnv(() => undefined), { ...RUNTIME_ENV_DEFAULTS });
});

Deno.test("runtimeEnv leaves a setting the parent environment has to the child", () => {
  const parent: Record<string, string> = { DENO_V8_FLAGS: "--max-semi-space-size=16" };
  const env = runtimeEnv((name) => parent[name]);
  assert.equal(env.DENO_V8_FLAGS, undefined);
  assert.equal(env.MALLOC_TRIM_THRESHOLD_, RUNTIME_ENV_DEFAULTS.MALLOC_TRIM_THRESHOLD_);
});

/** Young-generation bytes after an allocation that keeps one object in a hundred. */
const NEW_SPACE_PROBE = "import v8 from 'node:v8'; const keep = []; " +
  "for (let i = 0; i < 3e6; i++) { const o = { a: i, b: new Array(8) }; " +
  "if (i % 100 === 0) keep.push(o); } " +
  "console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)";

async function newSpaceBytes(env: Record<string, string>): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", NEW_SPACE_PROBE],
    env: { ...env, NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("a child started with runtimeEnv keeps a smaller young generation", async () => {
  const env = runtimeEnv(() => undefined);
  const tuned = await newSpaceBytes(env);
  const wide = await newSpaceBytes({ ...env, DENO_V8_FLAGS: "--max-semi-space-size=64" });
  assert.ok(tuned < wide, `new space ${tuned} bytes tuned against ${wide} bytes`);
});

/**
 * Runs `lowerThreadPriority(nice)` in a new Worker; resolves with its result, its thread id
 * and the worker, still running (the caller terminates it once it has looked at the thread).
 */
async function lowerInWorker(
  nice: number,
): Promise<{ lowered: boolean; tid: number; worker: Worker }> {
  const module_url = new URL("./thread_priority.ts", import.meta.url).href;
  const source = `import { lowerThreadPriority } from ${JSON.stringify(module_url)};
    const lowered = lowerThreadPriority(${nice});
    const tid = Number(Deno.readLinkSync("/proc/thread-self").split("/").pop());
    self.postMessage({ lowered, tid });`;
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    const reply = await new Promise<{ lowered: boolean; tid: number }>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(new Error(event.message));
    });
    return { ...reply, worker };
  } catch (err) {
    worker.terminate();
    throw err;
  } finally {
    URL.revokeObjectURL(url);
  }
}

Deno.test({
  name: "lowerThreadPriority lowers the calling Worker's thread alone",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const main_nice = threadNice(Deno.pid);
    assert.notEqual(main_nice, undefined, "the main thread's nice value is readable");
    const { lowered, tid, worker } = await lowerInWorker(7);
    try {
      assert.equal(lowered, true);
      assert.equal(threadNice(tid), 7, "the worker's thread runs at nice 7");
      assert.equal(threadNice(Deno.pid), main_nice, "the main thread keeps its priority");
    } finally {
      worker.terminate();
    }
  },
});

Deno.test("lowerThreadPriority refuses a nice value outside 0..19", () => {
  assert.throws(() => lowerThreadPriority(20), /nice must be an integer in 0\.\.19, got 20/);
  assert.throws(() => lowerThreadPriority(-1), RangeError);
  assert.throws(() => lowerThreadPriority(2.5), RangeError);
});

Deno.test("yieldToEventLoop lets finished I/O and due timers run before it resolves", async () => {
  let timer_ran = false;
  setTimeout(() => (timer_ran = true), 0);
  // A loop of microtask awaits alone never runs the timer...
  for (let i = 0; i < 1000; i++) await Promise.resolve();
  assert.equal(timer_ran, false);
  // ...turns of the event loop do, once it is due.
  const deadline_ms = Date.now() + 5_000;
  while (!timer_ran && Date.now() < deadline_ms) await yieldToEventLoop();
  assert.equal(timer_ran, true);
});
