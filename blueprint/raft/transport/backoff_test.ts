import assert from "node:assert/strict";
import { backoffDelayMs, DEFAULT_BACKOFF } from "./backoff.ts";

Deno.test("backoff doubles, is capped and jittered into [0.5, 1) of the ceiling", () => {
  const options = { initial_delay_ms: 100, max_delay_ms: 1_000 };
  assert.equal(backoffDelayMs(0, options, () => 0), 50);
  assert.equal(backoffDelayMs(0, options, () => 0.999999) < 100, true);
  assert.equal(backoffDelayMs(2, options, () => 0), 200);
  assert.equal(backoffDelayMs(3, options, () => 0.5), 600);
  assert.equal(backoffDelayMs(40, options, () => 0), 500);
  assert.ok(backoffDelayMs(1000, DEFAULT_BACKOFF, () => 0.99) < DEFAULT_BACKOFF.max_delay_ms);
  assert.throws(() => backoffDelayMs(-1, options, Math.random), /attempt must be an integer >= 0/);
});
