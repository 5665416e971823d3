import assert from "node:assert/strict";
import {
  ChunkPacker,
  decodeJson,
  decodeMessage,
  encodeJson,
  encodeMessage,
  forEachChunkEntry,
  ReplyKind,
  RequestKind,
} from "./worker_protocol.ts";

const ALL_REQUESTS = [
  RequestKind.Configure,
  RequestKind.FlushBegin,
  RequestKind.FlushChunk,
  RequestKind.FlushEnd,
  RequestKind.FlushAbort,
  RequestKind.Compact,
  RequestKind.Crash,
];

Deno.test("worker protocol: header round trip and clear errors", () => {
  const message = encodeMessage(RequestKind.Compact, 0xfffffffe, new Uint8Array([9, 8]));
  const decoded = decodeMessage(message, ALL_REQUESTS);
  assert.equal(decoded.kind, RequestKind.Compact);
  assert.equal(decoded.job_id, 0xfffffffe);
  assert.deepEqual([...decoded.payload], [9, 8]);
  assert.throws(() => decodeMessage(new Uint8Array(3), ALL_REQUESTS), /shorter than its 5-byte/);
  assert.throws(
    () => decodeMessage(encodeMessage(9, 1), [ReplyKind.Done, ReplyKind.Failed]),
    /unknown background message kind 9/,
  );
  assert.throws(() => encodeMessage(1, -1), /uint32/);
});

Deno.test("worker protocol: JSON carries byte arrays", () => {
  const value = { dir: "/d", keys: [new Uint8Array([0, 255, 16]), new Uint8Array(0)], n: 3 };
  assert.deepEqual(decodeJson(encodeJson(value)), value);
});

Deno.test("worker protocol: chunks stay within the bound and carry every entry", () => {
  const entries: [Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < 300; i++) {
    const value_length = i === 150 ? 5000 : i % 37; // one entry larger than a chunk
    entries.push([new TextEncoder().encode(`key${i}`), new Uint8Array(value_length).fill(i)]);
  }
  const packer = new ChunkPacker(42, 1024);
  const chunks: Uint8Array[] = [];
  for (const [key, value] of entries) {
    const full = packer.add(key, value);
    if (full !== null) chunks.push(full);
  }
  const last = packer.take();
  if (last !== null) chunks.push(last);
  assert.equal(packer.take(), null);
  const received: [Uint8Array, Uint8Array][] = [];
  for (const chunk of chunks) {
    const { kind, job_id, payload } = decodeMessage(chunk, ALL_REQUESTS);
    assert.equal(kind, RequestKind.FlushChunk);
    assert.equal(job_id, 42);
    const holds_big = chunk.length > 1024;
    if (holds_big) assert.ok(chunk.length <= 5 + 8 + 6 + 5000, "oversized chunk holds one entry");
    forEachChunkEntry(payload, (key, value) => received.push([key.slice(), value.slice()]));
  }
  assert.ok(chunks.length > 10);
  assert.deepEqual(received, entries);
});

Deno.test("worker protocol: a truncated chunk is rejected", () => {
  const packer = new ChunkPacker(1, 128);
  packer.add(new Uint8Array([1, 2]), new Uint8Array([3, 4, 5]));
  const chunk = packer.take()!;
  const { payload } = decodeMessage(chunk, ALL_REQUESTS);
  assert.throws(
    () => forEachChunkEntry(payload.subarray(0, payload.length - 1), () => {}),
    /runs past the chunk/,
  );
});
