import assert from "node:assert/strict";
import { type EndablePrototype, quietEndOfFinishedStreams } from "./http2_stream_patch.ts";

function fakePrototype() {
  const calls: unknown[][] = [];
  const prototype: EndablePrototype = {
    end(...args: unknown[]) {
      calls.push(args);
      return "original";
    },
  };
  return { prototype, calls };
}

Deno.test("http2 patch: end() of a finished stream skips only the no-op case", () => {
  const { prototype, calls } = fakePrototype();
  assert.equal(quietEndOfFinishedStreams(prototype), true);
  const finished = Object.assign(Object.create(prototype), { writableFinished: true });
  const open = Object.assign(Object.create(prototype), { writableFinished: false });
  assert.equal(finished.end(), finished, "a finished stream answers itself");
  assert.equal(calls.length, 0, "without building the error");
  assert.equal(open.end(), "original", "an open stream really ends");
  const done = () => {};
  assert.equal(finished.end(done), "original", "a callback still hears the error");
  assert.equal(finished.end("chunk"), "original", "a late write still fails as before");
  assert.deepEqual(calls, [[], [done], ["chunk"]]);
});

Deno.test("http2 patch: installing twice wraps once; the runtime's stream is patched", () => {
  const { prototype, calls } = fakePrototype();
  quietEndOfFinishedStreams(prototype);
  quietEndOfFinishedStreams(prototype);
  const open = Object.create(prototype);
  open.end();
  assert.equal(calls.length, 1, "one wrapper, one original call");
  assert.equal(quietEndOfFinishedStreams(), true, "node:http2 exposes Http2Stream here");
  assert.equal(quietEndOfFinishedStreams(undefined), true, "idempotent on the runtime too");
});
