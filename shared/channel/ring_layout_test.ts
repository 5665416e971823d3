import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import {
  advance,
  createRing,
  dataOffset,
  freeBytes,
  HEADER_BYTES,
  MAX_CAPACITY_BYTES,
  MIN_CAPACITY_BYTES,
  minFragmentBytes,
  neededFreeBytes,
  planFragment,
  RECORD_HEADER_BYTES,
  recordBytes,
  ringCapacity,
  usedBytes,
} from "./ring_layout.ts";
import { assertSeeded } from "./testdata/seed.ts";

Deno.test("createRing", async (t) => {
  await t.step("allocates header plus capacity and records the capacity", () => {
    const ring = createRing(1024);
    assert.equal(ring.byteLength, HEADER_BYTES + 1024);
    assert.equal(ringCapacity(ring), 1024);
  });
  await t.step("rejects capacities outside the allowed range, naming it", () => {
    for (const bad of [0, 8, MIN_CAPACITY_BYTES - 8, 100, 1.5, NaN, MAX_CAPACITY_BYTES * 2]) {
      assert.throws(() => createRing(bad), /capacity_bytes .* allowed is a multiple of 8 from 64/);
    }
  });
  await t.step("ringCapacity rejects buffers that are not rings", () => {
    assert.throws(() => ringCapacity(new SharedArrayBuffer(4096)), /no ring header/);
    assert.throws(() => ringCapacity(new SharedArrayBuffer(8)), /too small/);
    assert.throws(
      () => ringCapacity(new ArrayBuffer(4096) as unknown as SharedArrayBuffer),
      /must be a SharedArrayBuffer/,
    );
  });
});

Deno.test("positions run modulo twice the capacity", () => {
  const capacity = 64;
  assert.equal(usedBytes(0, 0, capacity), 0);
  assert.equal(usedBytes(0, 64, capacity), 64, "full ring is told apart from empty");
  assert.equal(freeBytes(0, 64, capacity), 0);
  assert.equal(usedBytes(120, 8, capacity), 16, "tail wrapped past 2 * capacity");
  assert.equal(advance(120, 16, capacity), 8);
  assert.equal(advance(40, 16, capacity), 56);
  assert.equal(dataOffset(72, capacity), 8);
  assert.equal(dataOffset(8, capacity), 8);
});

Deno.test("recordBytes pads payload to 8 and adds the header", () => {
  assert.equal(recordBytes(0), RECORD_HEADER_BYTES);
  assert.equal(recordBytes(1), RECORD_HEADER_BYTES + 8);
  assert.equal(recordBytes(8), RECORD_HEADER_BYTES + 8);
  assert.equal(recordBytes(9), RECORD_HEADER_BYTES + 16);
});

Deno.test("planFragment", async (t) => {
  const capacity = 1024;
  await t.step("sends a message whole when it fits the free space", () => {
    assert.equal(planFragment(0, 8, capacity), 0);
    assert.equal(planFragment(100, 112, capacity), 100);
  });
  await t.step("waits for a message that fits the ring but not the free space", () => {
    assert.equal(planFragment(100, 104, capacity), null);
    assert.equal(planFragment(1000, 900, capacity), null);
  });
  await t.step("fragments a message larger than the ring once a quarter is free", () => {
    assert.equal(planFragment(5000, 8 + 256, capacity), 256);
    assert.equal(planFragment(5000, capacity, capacity), capacity - RECORD_HEADER_BYTES);
    assert.equal(planFragment(5000, 8 + 255, capacity), null);
  });
  await t.step("neededFreeBytes is exactly the space at which planFragment proceeds", async () => {
    await assertSeeded(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(64, 72, 1024), (
        remaining,
        cap,
      ) => {
        const needed = neededFreeBytes(remaining, cap);
        assert.ok(needed <= cap, "a sender never waits for more than the whole ring");
        assert.notEqual(planFragment(remaining, needed, cap), null);
        assert.equal(planFragment(remaining, needed - 8, cap), null);
        const planned = planFragment(remaining, needed, cap) as number;
        assert.ok(planned > 0 || remaining === 0, "every write makes progress");
        assert.ok(recordBytes(planned) <= needed);
        assert.ok(planned >= Math.min(remaining, minFragmentBytes(cap)));
      }),
      200,
    );
  });
});
