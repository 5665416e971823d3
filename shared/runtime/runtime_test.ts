import assert from "node:assert/strict";
import { RUNTIME_ENV_DEFAULTS, runtimeEnv } from "./mod.ts";

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
