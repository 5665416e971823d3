import assert from "node:assert/strict";
import { seededRandom } from "./mod.ts";

Deno.test("seededRandom: one seed replays one sequence in [0, 1); another seed differs", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const c = seededRandom(43);
  const first = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(first, Array.from({ length: 1000 }, () => b()));
  assert.notDeepEqual(first, Array.from({ length: 1000 }, () => c()));
  assert.ok(first.every((x) => x >= 0 && x < 1));
  // The first output for seed 42, fixed: recorded failing seeds replay only if it stays.
  assert.equal(seededRandom(42)(), 0.6011037519201636);
});
