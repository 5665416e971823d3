import assert from "node:assert/strict";
import { DEFAULT_COMPACTION_OPTIONS, resolveCompactionOptions } from "./compaction_options.ts";
import { SlowdownPacer, writeStall } from "./write_stall.ts";

Deno.test("writeStall: go below 20 L0 files, delay from 20, stop from 36", () => {
  const options = DEFAULT_COMPACTION_OPTIONS;
  for (let count = 0; count < 20; count++) {
    assert.deepEqual(writeStall(count, options), { delay_ms: 0 });
  }
  for (let count = 20; count < 36; count++) {
    assert.deepEqual(writeStall(count, options), { delay_ms: 1 });
  }
  assert.equal(writeStall(36, options), "stop");
  assert.equal(writeStall(500, options), "stop");
});

Deno.test("writeStall: follows custom triggers and rejects bad counts", () => {
  const options = resolveCompactionOptions({
    level0_compaction_trigger: 2,
    level0_slowdown_trigger: 3,
    level0_stop_trigger: 4,
    slowdown_delay_ms: 5,
  });
  assert.deepEqual(writeStall(2, options), { delay_ms: 0 });
  assert.deepEqual(writeStall(3, options), { delay_ms: 5 });
  assert.equal(writeStall(4, options), "stop");
  assert.throws(() => writeStall(-1, options), /non-negative integer/);
  assert.throws(() => writeStall(1.5, options), /non-negative integer/);
});

Deno.test("resolveCompactionOptions: defaults, derived limits, and clear errors", () => {
  const defaults = resolveCompactionOptions();
  assert.equal(defaults.level0_compaction_trigger, 4);
  assert.equal(defaults.level0_slowdown_trigger, 20);
  assert.equal(defaults.level0_stop_trigger, 36);
  assert.equal(defaults.max_bytes_for_level_base, 10 << 20);
  assert.equal(defaults.level_multiplier, 10);
  assert.equal(defaults.target_file_size_bytes, 2 << 20);
  assert.equal(defaults.max_grandparent_overlap_bytes, 20 << 20);
  const small = resolveCompactionOptions({ target_file_size_bytes: 64 << 10 });
  assert.equal(small.max_grandparent_overlap_bytes, 640 << 10);
  assert.equal(small.expanded_compaction_limit_bytes, 25 * (64 << 10));
  assert.throws(
    () => resolveCompactionOptions({ level0_stop_trigger: 2 }),
    /level0_compaction_trigger <= level0_slowdown_trigger <= level0_stop_trigger/,
  );
  assert.throws(
    () => resolveCompactionOptions({ level_multiplier: 1 }),
    /level_multiplier must be an integer in \[2, 1000\], got 1/,
  );
  assert.throws(
    () => resolveCompactionOptions({ bogus: 1 } as never),
    /unknown compaction option "bogus"/,
  );
});

/** Runs `writes` slowed writes of `delay_ms` each against a timer that always takes `timer_ms`. */
function paceWrites(
  pacer: SlowdownPacer,
  writes: number,
  delay_ms: number,
  timer_ms: number,
): { sleeps: number; slept_ms: number } {
  let sleeps = 0;
  let slept_ms = 0;
  for (let i = 0; i < writes; i++) {
    if (pacer.owe(delay_ms) > 0) {
      sleeps++;
      slept_ms += timer_ms;
      pacer.paid(timer_ms);
    }
  }
  return { sleeps, slept_ms };
}

Deno.test("SlowdownPacer: slowed writes wait their configured delay on average with a coarse timer", () => {
  // A timer that fires after 2.3 ms however little is asked: 1,000 writes owing 1 ms each.
  const { sleeps, slept_ms } = paceWrites(new SlowdownPacer(10), 1000, 1, 2.3);
  assert.equal(sleeps, 435, "about one sleep per 2.3 writes");
  assert.ok(slept_ms >= 1000 && slept_ms < 1000 + 2.3, `slept ${slept_ms} ms for 1,000 ms owed`);
  // A timer as exact as asked: every write sleeps its own delay.
  assert.deepEqual(paceWrites(new SlowdownPacer(10), 50, 1, 1), { sleeps: 50, slept_ms: 50 });
});

Deno.test("SlowdownPacer: one late timer lets at most max_credit_ms of writes through", () => {
  const pacer = new SlowdownPacer(10);
  assert.equal(pacer.owe(1), 1);
  pacer.paid(500); // a busy event loop: the sleep took half a second
  let free = 0;
  while (pacer.owe(1) === 0) free++;
  assert.equal(free, 10, "credit capped at 10 ms: ten writes pass, the eleventh sleeps");
});
