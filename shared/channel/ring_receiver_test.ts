import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { ChannelClosedError, ChannelTimeoutError } from "./errors.ts";
import { abortRing } from "./ring_access.ts";
import { createRing, HEADER_BYTES, recordBytes, Slot } from "./ring_layout.ts";
import { RingReceiver } from "./ring_receiver.ts";
import { RingSender } from "./ring_sender.ts";
import { assertNumberedMessage, numberedMessage, settle } from "./testdata/messages.ts";
import { assertSeeded } from "./testdata/seed.ts";

function pair(capacity_bytes: number) {
  const ring = createRing(capacity_bytes);
  return { ring, sender: new RingSender(ring), receiver: new RingReceiver(ring) };
}

Deno.test("receive timeouts", async (t) => {
  await t.step("receive on an empty ring rejects with ChannelTimeoutError", async () => {
    const { receiver } = pair(64);
    await assert.rejects(receiver.receive(10), /receive timed out after 10 ms/);
    assert.throws(() => receiver.receiveBlocking(5), ChannelTimeoutError);
    await assert.rejects(receiver.receive(0), ChannelTimeoutError);
  });
  await t.step("a message that arrives in time is returned", async () => {
    const { sender, receiver } = pair(64);
    const receiving = receiver.receive(60_000);
    await settle();
    sender.trySend(numberedMessage(3, 10));
    assertNumberedMessage(await receiving, 3, 10);
  });
  await t.step("bad timeouts are refused, naming the allowed values", async () => {
    const { receiver } = pair(64);
    await assert.rejects(receiver.receive(NaN), /timeout_ms NaN is invalid: allowed is a number/);
    assert.throws(() => receiver.receiveBlocking(-5), RangeError);
  });
});

Deno.test("concurrent receives are answered in call order", async () => {
  const { sender, receiver } = pair(64);
  const receiving = [receiver.receive(), receiver.receive(), receiver.receive()];
  assert.throws(() => receiver.receiveBlocking(0), /async receive calls are still pending/);
  for (let i = 0; i < 3; i++) await sender.send(numberedMessage(i, 20 + i));
  const got = await Promise.all(receiving);
  got.forEach((m, i) => assertNumberedMessage(m, i, 20 + i));
});

Deno.test("an aborted ring fails both sides at once", async (t) => {
  await t.step("a waiting receive rejects with ChannelClosedError", async () => {
    const { ring, receiver } = pair(64);
    const receiving = receiver.receive();
    await settle();
    assert.equal(abortRing(ring), true);
    await assert.rejects(receiving, ChannelClosedError);
    assert.throws(() => receiver.tryReceive(), /aborted/);
    await assert.rejects(receiver.receive(), ChannelClosedError);
  });
  await t.step("a waiting send rejects, and so does every later send", async () => {
    const { ring, sender } = pair(64);
    while (sender.trySend(new Uint8Array(8)));
    const sending = sender.send(new Uint8Array(8));
    await settle();
    abortRing(ring);
    await assert.rejects(sending, ChannelClosedError);
    assert.throws(() => sender.trySend(new Uint8Array(0)), ChannelClosedError);
    assert.throws(() => sender.sendBlocking(new Uint8Array(0)), ChannelClosedError);
  });
  await t.step("undelivered data is not handed out after an abort", () => {
    const { ring, sender, receiver } = pair(64);
    sender.trySend(new Uint8Array(1));
    abortRing(ring);
    assert.throws(() => receiver.receiveBlocking(), ChannelClosedError);
  });
  await t.step("a ring its sender closed still drains", async () => {
    const { ring, sender, receiver } = pair(64);
    sender.trySend(numberedMessage(0, 4));
    sender.close();
    assert.equal(abortRing(ring), false);
    assertNumberedMessage(await receiver.receive(), 0, 4);
    assert.equal(await receiver.receive(), null);
  });
});

Deno.test("a corrupted record header is reported, not delivered", () => {
  const { ring, receiver } = pair(64);
  const slots = new Int32Array(ring);
  slots[HEADER_BYTES / 4] = 1_000; // fragment larger than what is in the ring
  slots[HEADER_BYTES / 4 + 1] = 1_000;
  Atomics.store(slots, Slot.TAIL, 16);
  assert.throws(() => receiver.tryReceive(), /ring corrupted: record \[fragment_bytes 1000/);
});

/** One step of the model test: send a message of some size, or try to take one. */
type Command = { send_bytes: number } | { receive: true };

Deno.test("property: trySend/tryReceive match a model of the ring's bytes", async () => {
  const command = fc.oneof(
    fc.record({ send_bytes: fc.integer({ min: 0, max: 130 }) }),
    fc.constant({ receive: true as const }),
  );
  await assertSeeded(
    fc.property(
      fc.constantFrom(64, 72, 128, 200),
      fc.array(command, { maxLength: 300 }),
      (capacity_bytes: number, commands: Command[]) => {
        const { sender, receiver } = pair(capacity_bytes);
        const in_ring: { index: number; size: number }[] = [];
        let used_bytes = 0;
        let next_index = 0;
        for (const c of commands) {
          if ("send_bytes" in c) {
            const fits = used_bytes + recordBytes(c.send_bytes) <= capacity_bytes;
            assert.equal(sender.trySend(numberedMessage(next_index, c.send_bytes)), fits);
            if (fits) {
              in_ring.push({ index: next_index, size: c.send_bytes });
              used_bytes += recordBytes(c.send_bytes);
            }
            next_index++;
          } else {
            const expected = in_ring.shift();
            const actual = receiver.tryReceive();
            if (expected === undefined) assert.equal(actual, null);
            else {
              assertNumberedMessage(actual, expected.index, expected.size);
              used_bytes -= recordBytes(expected.size);
            }
          }
        }
      },
    ),
    300,
  );
});

Deno.test("property: random sizes through a small ring arrive whole and in order", async () => {
  await assertSeeded(
    fc.asyncProperty(
      fc.constantFrom(64, 96, 256),
      fc.array(fc.integer({ min: 0, max: 1_200 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
      async (capacity_bytes: number, sizes: number[], receive_eagerly: boolean[]) => {
        const { sender, receiver } = pair(capacity_bytes);
        const sending = (async () => {
          for (let i = 0; i < sizes.length; i++) await sender.send(numberedMessage(i, sizes[i]));
          sender.close();
        })();
        for (let i = 0; i < sizes.length; i++) {
          // Sometimes poll first, so that both the waiting and the non-waiting paths run.
          const polled = receive_eagerly[i % receive_eagerly.length] ? receiver.tryReceive() : null;
          assertNumberedMessage(polled ?? await receiver.receive(), i, sizes[i]);
        }
        assert.equal(await receiver.receive(), null);
        await sending;
      },
    ),
    60,
  );
});
