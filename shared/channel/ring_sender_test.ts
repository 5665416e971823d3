import assert from "node:assert/strict";
import { ChannelClosedError, ChannelTimeoutError } from "./errors.ts";
import { createRing, MAX_MESSAGE_BYTES, recordBytes } from "./ring_layout.ts";
import { RingReceiver, SLAB_BYTES, SLAB_MESSAGE_MAX_BYTES } from "./ring_receiver.ts";
import { RingSender } from "./ring_sender.ts";
import { assertNumberedMessage, numberedMessage, settle } from "./testdata/messages.ts";

function pair(capacity_bytes: number) {
  const ring = createRing(capacity_bytes);
  return { ring, sender: new RingSender(ring), receiver: new RingReceiver(ring) };
}

/** Fills the ring with 8-byte messages until trySend refuses; returns how many went in. */
function fill(sender: RingSender): number {
  let sent = 0;
  while (sender.trySend(numberedMessage(sent, 8))) sent++;
  return sent;
}

Deno.test("many messages keep their order and bytes across wrap-around", () => {
  const { sender, receiver } = pair(64);
  let sent = 0;
  let received = 0;
  let bytes_through = 0;
  // Sizes 0..40 make records of 8..56 bytes, so payloads straddle the data area's end.
  for (let round = 0; round < 2_000; round++) {
    while (sender.trySend(numberedMessage(sent, sent % 41))) {
      bytes_through += recordBytes(sent % 41);
      sent++;
    }
    const message = receiver.tryReceive();
    assertNumberedMessage(message, received, received % 41);
    received++;
  }
  for (let m = receiver.tryReceive(); m !== null; m = receiver.tryReceive()) {
    assertNumberedMessage(m, received, received % 41);
    received++;
  }
  assert.equal(received, sent);
  assert.ok(bytes_through > 100 * 64, "the ring wrapped around many times");
});

Deno.test("empty and 1-byte messages arrive as such", () => {
  const { sender, receiver } = pair(64);
  assert.ok(sender.trySend(new Uint8Array(0)));
  assert.ok(sender.trySend(new Uint8Array([0xab])));
  assert.ok(sender.trySend(new Uint8Array(0)));
  assert.deepEqual(receiver.tryReceive(), new Uint8Array(0));
  assert.deepEqual(receiver.tryReceive(), new Uint8Array([0xab]));
  assert.deepEqual(receiver.tryReceive(), new Uint8Array(0));
  assert.equal(receiver.tryReceive(), null);
});

Deno.test("a received message is a copy the caller owns", () => {
  const { sender, receiver } = pair(64);
  const original = new Uint8Array([1, 2, 3]);
  sender.trySend(original);
  original[0] = 9; // the sender copied at send time
  const received = receiver.tryReceive() as Uint8Array;
  assert.deepEqual(received, new Uint8Array([1, 2, 3]));
  assert.ok(!(received.buffer instanceof SharedArrayBuffer));
});

Deno.test("small messages share a slab without overlapping; large ones have their own", () => {
  const { sender, receiver } = pair(1 << 16);
  const sizes = [SLAB_MESSAGE_MAX_BYTES, 1, 0, 700, SLAB_MESSAGE_MAX_BYTES + 1, 3];
  sizes.forEach((size, i) => assert.ok(sender.trySend(numberedMessage(i, size))));
  const received = sizes.map(() => receiver.tryReceive() as Uint8Array);
  for (const message of received) message.fill(0xee); // writing one must not touch another
  sizes.forEach((size, i) => {
    assert.equal(received[i].length, size);
    assert.ok(received[i].every((b) => b === 0xee));
  });
  assert.equal(received[4].buffer.byteLength, SLAB_MESSAGE_MAX_BYTES + 1);
  assert.equal(received[0].buffer, received[1].buffer, "small messages share a slab");
  for (let i = 0; i < 2 * SLAB_BYTES / 1024; i++) {
    sender.trySend(numberedMessage(i, 1024));
    assertNumberedMessage(receiver.tryReceive(), i, 1024); // slabs are renewed when full
  }
});

Deno.test("back-pressure", async (t) => {
  await t.step("trySend answers false when full, and true again once drained", () => {
    const { sender, receiver } = pair(64);
    const sent = fill(sender);
    assert.equal(sent, 64 / recordBytes(8));
    assert.equal(sender.trySend(new Uint8Array(1)), false);
    assertNumberedMessage(receiver.tryReceive(), 0, 8);
    assert.ok(sender.trySend(new Uint8Array(1)));
  });
  await t.step("send waits while full and completes once the consumer drains", async () => {
    const { sender, receiver } = pair(64);
    const sent = fill(sender);
    let settled = false;
    const sending = sender.send(numberedMessage(sent, 8)).then(() => settled = true);
    await settle();
    assert.equal(settled, false, "send must wait while the ring is full");
    assert.equal(sender.trySend(new Uint8Array(0)), false, "trySend must not overtake send");
    assertNumberedMessage(receiver.tryReceive(), 0, 8);
    await sending;
    assert.ok(settled);
    for (let i = 1; i <= sent; i++) assertNumberedMessage(receiver.tryReceive(), i, 8);
  });
  await t.step("concurrent sends complete in call order", async () => {
    const { sender, receiver } = pair(128);
    const sizes = [100, 3, 250, 0, 64, 1];
    const sending = Promise.all(sizes.map((size, i) => sender.send(numberedMessage(i, size))));
    for (let i = 0; i < sizes.length; i++) {
      assertNumberedMessage(await receiver.receive(), i, sizes[i]);
    }
    await sending;
  });
});

Deno.test("messages larger than the free space and than the ring arrive whole", async (t) => {
  await t.step("larger than the free space", async () => {
    const { sender, receiver } = pair(256);
    assert.ok(sender.trySend(numberedMessage(0, 150)));
    assert.equal(sender.trySend(numberedMessage(1, 150)), false);
    const sending = sender.send(numberedMessage(1, 150));
    assertNumberedMessage(await receiver.receive(), 0, 150);
    assertNumberedMessage(await receiver.receive(), 1, 150);
    await sending;
  });
  await t.step("many times larger than the whole ring", async () => {
    const { sender, receiver } = pair(64);
    const sizes = [1_000, 57, 64 * 37 + 5, 56, 65];
    const sending = (async () => {
      for (let i = 0; i < sizes.length; i++) await sender.send(numberedMessage(i, sizes[i]));
    })();
    for (let i = 0; i < sizes.length; i++) {
      assertNumberedMessage(await receiver.receive(), i, sizes[i]);
    }
    await sending;
  });
  await t.step("trySend refuses a message the ring cannot hold at once", () => {
    const { sender } = pair(64);
    assert.equal(sender.trySend(new Uint8Array(57)), false);
    assert.ok(sender.trySend(new Uint8Array(56)), "56 bytes + 8 header fill a 64-byte ring");
  });
});

Deno.test("close", async (t) => {
  await t.step("the receiver drains what was sent, then sees null", async () => {
    const { sender, receiver } = pair(64);
    sender.trySend(numberedMessage(0, 5));
    sender.trySend(numberedMessage(1, 0));
    sender.close();
    sender.close(); // idempotent
    assertNumberedMessage(await receiver.receive(), 0, 5);
    assertNumberedMessage(receiver.receiveBlocking(), 1, 0);
    assert.equal(await receiver.receive(), null);
    assert.equal(receiver.receiveBlocking(), null);
    assert.equal(receiver.tryReceive(), null);
  });
  await t.step("wakes a receiver waiting for data", async () => {
    const { sender, receiver } = pair(64);
    const receiving = receiver.receive();
    await settle();
    sender.close();
    assert.equal(await receiving, null);
  });
  await t.step("pending sends finish before the end is published", async () => {
    const { sender, receiver } = pair(64);
    const sending = sender.send(numberedMessage(0, 300));
    sender.close();
    await assert.rejects(sender.send(new Uint8Array(1)), ChannelClosedError);
    assert.throws(() => sender.trySend(new Uint8Array(1)), ChannelClosedError);
    assert.throws(() => sender.sendBlocking(new Uint8Array(1)), ChannelClosedError);
    assertNumberedMessage(await receiver.receive(), 0, 300);
    assert.equal(await receiver.receive(), null);
    await sending;
  });
});

Deno.test("timeouts", async (t) => {
  await t.step("send on a full ring rejects with ChannelTimeoutError", async () => {
    const { sender } = pair(64);
    fill(sender);
    await assert.rejects(sender.send(new Uint8Array(8), 20), ChannelTimeoutError);
    assert.throws(() => sender.sendBlocking(new Uint8Array(8), 5), ChannelTimeoutError);
  });
  await t.step("a timed-out fragmented message is dropped; the next arrives intact", async () => {
    const { sender, receiver } = pair(64);
    // 1000 bytes through a 64-byte ring: only the first fragments fit before the timeout.
    await assert.rejects(sender.send(numberedMessage(0, 1_000), 10), /timed out after 10 ms/);
    const sending = sender.send(numberedMessage(1, 200));
    assertNumberedMessage(await receiver.receive(), 1, 200);
    await sending;
    sender.close();
    assert.equal(await receiver.receive(), null);
  });
  await t.step("a timed-out message abandoned before close is dropped at the end", async () => {
    const { sender, receiver } = pair(64);
    await assert.rejects(sender.send(numberedMessage(0, 1_000), 10), ChannelTimeoutError);
    sender.close();
    assert.equal(await receiver.receive(), null);
  });
  await t.step("the sender stays usable after a timeout", async () => {
    const { sender, receiver } = pair(64);
    fill(sender);
    await assert.rejects(sender.send(new Uint8Array(8), 5), ChannelTimeoutError);
    while (receiver.tryReceive() !== null);
    await sender.send(numberedMessage(7, 8), 1_000);
    assertNumberedMessage(receiver.tryReceive(), 7, 8);
  });
});

Deno.test("bad input gets a clear error", async () => {
  const { sender } = pair(64);
  const not_bytes = [1, 2] as unknown as Uint8Array;
  assert.throws(() => sender.trySend(not_bytes), /message must be a Uint8Array/);
  await assert.rejects(sender.send(not_bytes), TypeError);
  const huge = new Uint8Array(1);
  Object.defineProperty(huge, "length", { value: MAX_MESSAGE_BYTES + 1 });
  assert.throws(() => sender.trySend(huge), /too large: at most 268435456 bytes/);
  await assert.rejects(sender.send(new Uint8Array(1), -1), /timeout_ms -1 is invalid/);
  assert.throws(() => new RingSender(new SharedArrayBuffer(1024)), /createRing/);
});

Deno.test("a ring takes one sender and one receiver", () => {
  const { ring } = pair(64);
  assert.throws(() => new RingSender(ring), /already has a RingSender/);
  assert.throws(() => new RingReceiver(ring), /already has a RingReceiver/);
});

Deno.test("sendBlocking refuses to run while async sends are pending", async () => {
  const { sender, receiver } = pair(64);
  fill(sender);
  const pending = sender.send(new Uint8Array(8));
  assert.throws(() => sender.sendBlocking(new Uint8Array(8)), /async send calls are still pending/);
  while (receiver.tryReceive() !== null);
  await pending;
});
