import assert from "node:assert/strict";
import { fc } from "../../../dev_deps.ts";
import {
  decodeHello,
  encodeHelloFrame,
  encodeMessageFrames,
  FrameDecoder,
  FrameError,
  FrameKind,
} from "./frame_codec.ts";

Deno.test("FrameDecoder", async (t) => {
  await t.step("frames split at any chunk boundaries arrive whole and in order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        (payloads, cuts) => {
          const wire = encodeMessageFrames(payloads);
          const decoder = new FrameDecoder(1024);
          const received: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < wire.length; i++) {
            const size = cuts[i % cuts.length];
            for (const frame of decoder.push(wire.slice(offset, offset + size))) {
              assert.equal(frame.kind, FrameKind.Message);
              received.push(frame.payload);
            }
            offset += size;
          }
          assert.deepEqual(received, payloads);
          assert.equal(decoder.buffered_bytes, 0);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  await t.step("a frame announced larger than the limit is refused before buffering", () => {
    const decoder = new FrameDecoder(1024);
    const header = new Uint8Array([0x02, 0x04, 0, 0, FrameKind.Message]); // 1025 bytes
    assert.throws(() => decoder.push(header), /frame of 1024 bytes|exceeds the limit/);
    const exact = new FrameDecoder(1024);
    assert.deepEqual(exact.push(encodeMessageFrames([new Uint8Array(1024)])).length, 1);
    assert.throws(
      () => new FrameDecoder(1023).push(encodeMessageFrames([new Uint8Array(1024)])),
      (err: Error) =>
        err instanceof FrameError && /1024 bytes exceeds the limit of 1023/.test(err.message),
    );
  });

  await t.step("frames before a violation in the same chunk are returned first", () => {
    const decoder = new FrameDecoder(64);
    const good = encodeMessageFrames([new Uint8Array([7])]);
    const chunk = new Uint8Array([...good, 0xff, 0xff, 0, 0, 2]);
    assert.equal(decoder.push(chunk).length, 1);
    assert.throws(() => decoder.check(), /exceeds the limit of 64/);
    assert.throws(() => decoder.push(good), /exceeds the limit of 64/);
  });

  await t.step("unknown kinds and empty frames are refused", () => {
    assert.throws(
      () => new FrameDecoder(64).push(new Uint8Array([1, 0, 0, 0, 9])),
      /unknown frame kind 9/,
    );
    assert.throws(() => new FrameDecoder(64).push(new Uint8Array([0, 0, 0, 0, 1])), /length 0/);
  });
});

Deno.test("hello frames round-trip and reject bad input", () => {
  const frame = encodeHelloFrame({ cluster_id: "blueprint", sender_id: "node-1" });
  const [decoded] = new FrameDecoder(1024).push(frame);
  assert.equal(decoded.kind, FrameKind.Hello);
  assert.deepEqual(decodeHello(decoded.payload), { cluster_id: "blueprint", sender_id: "node-1" });
  assert.throws(
    () => encodeHelloFrame({ cluster_id: "", sender_id: "a" }),
    /cluster_id must be 1..255/,
  );
  const bad_version = decoded.payload.slice();
  bad_version[0] = 9;
  assert.throws(() => decodeHello(bad_version), /version 9/);
  assert.throws(() => decodeHello(decoded.payload.subarray(0, 8)), FrameError);
});
