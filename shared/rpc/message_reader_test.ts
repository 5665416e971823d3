import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fc } from "../../dev_deps.ts";
import { FrameError, frameMessage, MessageReader } from "./message_reader.ts";

Deno.test("message reader: any split of framed messages reads back the messages (property)", () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
    fc.array(fc.nat(60), { maxLength: 12 }),
    (bodies, cuts) => {
      const bytes = Buffer.concat(bodies.map(frameMessage));
      const reader = new MessageReader(1024);
      const read: number[][] = [];
      let at = 0;
      for (const cut of [...cuts, bytes.length]) {
        const next = Math.min(bytes.length, at + cut);
        reader.push(bytes.subarray(at, next), (body) => {
          read.push([...body]);
          return true;
        });
        at = next;
      }
      deepStrictEqual(read, bodies.map((body) => [...body]));
      strictEqual(reader.partial, false);
    },
  ));
});

Deno.test("message reader: a cut-off message stays partial; a stop leaves the rest", () => {
  const reader = new MessageReader(1024);
  const frames = Buffer.concat([
    frameMessage(new Uint8Array([1])),
    frameMessage(new Uint8Array([2])),
  ]);
  const read: number[] = [];
  reader.push(frames.subarray(0, 8), (body) => {
    read.push(body[0]);
    return false; // the call ended: nothing more is handed on
  });
  deepStrictEqual(read, [1]);
  strictEqual(reader.partial, true);
});

Deno.test("message reader: over the limit and compressed are frame errors", () => {
  const big = frameMessage(new Uint8Array(10));
  throws(() => new MessageReader(9).push(big, () => true), (error: unknown) => {
    return error instanceof FrameError && error.kind === "too_large" && error.length === 10;
  });
  const compressed = frameMessage(new Uint8Array(3));
  compressed[0] = 1;
  throws(() => new MessageReader(9).push(compressed, () => true), (error: unknown) => {
    return error instanceof FrameError && error.kind === "compressed";
  });
});
