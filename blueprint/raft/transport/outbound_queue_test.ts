import assert from "node:assert/strict";
import { OutboundQueue } from "./outbound_queue.ts";

Deno.test("OutboundQueue", async (t) => {
  await t.step("drops and counts messages beyond its message limit", () => {
    const queue = new OutboundQueue({ max_messages: 3, max_bytes: 1000 });
    for (let i = 0; i < 5; i++) queue.push(new Uint8Array([i]));
    assert.equal(queue.length, 3);
    assert.equal(queue.dropped, 2);
    assert.deepEqual(queue.takeBatch(100).map((m) => m[0]), [0, 1, 2]);
  });

  await t.step("drops messages beyond its byte limit", () => {
    const queue = new OutboundQueue({ max_messages: 100, max_bytes: 10 });
    assert.equal(queue.push(new Uint8Array(6)), true);
    assert.equal(queue.push(new Uint8Array(6)), false);
    assert.equal(queue.push(new Uint8Array(4)), true);
    assert.equal(queue.bytes, 10);
  });

  await t.step("batches stop at max_bytes but always take one", () => {
    const queue = new OutboundQueue({ max_messages: 100, max_bytes: 10_000 });
    for (let i = 0; i < 5; i++) queue.push(new Uint8Array(100));
    queue.push(new Uint8Array(500));
    assert.equal(queue.takeBatch(250).length, 2);
    assert.equal(queue.takeBatch(400).length, 3);
    assert.equal(queue.takeBatch(10).length, 1);
    assert.equal(queue.length, 0);
    assert.equal(queue.bytes, 0);
  });

  await t.step("a waiting writer wakes on push", async () => {
    const queue = new OutboundQueue({ max_messages: 10, max_bytes: 100 });
    const woke = queue.waitNonEmpty().then(() => queue.length);
    queue.push(new Uint8Array(1));
    assert.equal(await woke, 1);
  });

  await t.step("limits below one are refused", () => {
    assert.throws(
      () => new OutboundQueue({ max_messages: 0, max_bytes: 1 }),
      /limits must be >= 1/,
    );
  });
});
