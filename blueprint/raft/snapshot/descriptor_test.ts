import assert from "node:assert/strict";
import {
  checkpointIndexOf,
  decodeChunkRequest,
  decodeChunkResponse,
  decodeDescriptor,
  encodeChunkData,
  encodeChunkError,
  encodeChunkRequest,
  encodeDescriptor,
  isDescriptor,
  MAX_CHUNK_BYTES,
  newCheckpointId,
  type SnapshotDescriptor,
} from "./mod.ts";

const ID = "c0000000000000042-0a1b2c3d";
const DESCRIPTOR: SnapshotDescriptor = {
  checkpoint_id: ID,
  applied_index: 42,
  applied_term: 3,
  files: [
    { name: "000007.sst", size_bytes: 1000, crc32c: 0xdeadbeef },
    { name: "MANIFEST", size_bytes: 24, crc32c: 7 },
  ],
  size_bytes: 1024,
};

Deno.test("descriptor: round trip, ids, and a clear error for every bad field", async (t) => {
  await t.step("encodes and decodes", () => {
    const bytes = encodeDescriptor(DESCRIPTOR);
    assert.ok(isDescriptor(bytes));
    assert.deepEqual(decodeDescriptor(bytes), DESCRIPTOR);
    assert.equal(isDescriptor(new TextEncoder().encode("a key/value dump")), false);
  });

  await t.step("checkpoint ids carry their index", () => {
    const id = newCheckpointId(1234);
    assert.match(id, /^c0000000000001234-[0-9a-f]{8}$/);
    assert.equal(checkpointIndexOf(id), 1234);
    assert.equal(checkpointIndexOf("../etc"), undefined);
  });

  await t.step("damage and bad fields are refused, naming what is wrong", () => {
    const bytes = encodeDescriptor(DESCRIPTOR);
    const flipped = bytes.slice();
    flipped[20] ^= 1;
    assert.throws(() => decodeDescriptor(flipped), /checksum mismatch/);
    const version = bytes.slice();
    version[4] = 9;
    assert.throws(() => decodeDescriptor(version), /format version 9 \(supported: 1\)/);
    const bad = (change: Partial<SnapshotDescriptor>, pattern: RegExp) =>
      assert.throws(() => encodeDescriptor({ ...DESCRIPTOR, ...change }), pattern);
    bad({ checkpoint_id: "../../x" }, /checkpoint_id "..\/..\/x" must match/);
    bad({ applied_index: 43 }, /names index 42, applied_index is 43/);
    bad({ size_bytes: 5 }, /size_bytes 5 is not the files' total 1024/);
    bad({ files: [] }, /files must list 1 to/);
    bad(
      { files: [{ name: "a/b", size_bytes: 1, crc32c: 0 }], size_bytes: 1 },
      /files\[0\]\.name must match/,
    );
    bad(
      { files: [{ name: "x", size_bytes: -1, crc32c: 0 }], size_bytes: -1 },
      /files\[0\]\.size_bytes must be a non-negative safe integer/,
    );
    bad(
      {
        files: [{ name: "x", size_bytes: 1, crc32c: 0 }, { name: "x", size_bytes: 1, crc32c: 0 }],
        size_bytes: 2,
      },
      /file x is listed twice/,
    );
  });
});

Deno.test("chunk protocol: requests and responses round trip; damage is caught", () => {
  const read = { op: "read" as const, checkpoint_id: ID, file: "MANIFEST", offset: 5, length: 10 };
  assert.deepEqual(decodeChunkRequest(encodeChunkRequest(read)), read);
  const report = { op: "report" as const, checkpoint_id: ID, ok: false, reason: "disk full" };
  assert.deepEqual(decodeChunkRequest(encodeChunkRequest(report)), report);
  assert.throws(
    () => encodeChunkRequest({ ...read, length: MAX_CHUNK_BYTES + 1 }),
    /length must be an integer from 1 to 4194304/,
  );
  assert.throws(() => encodeChunkRequest({ ...read, file: ".." }), /file must match/);
  assert.throws(() => decodeChunkRequest(Uint8Array.of(7, 1)), /request op 7/);
  const data = new TextEncoder().encode("hello chunk");
  const response = encodeChunkData(data);
  assert.deepEqual(decodeChunkResponse(response), { ok: true, data });
  const damaged = response.slice();
  damaged[7] ^= 0x40;
  assert.throws(() => decodeChunkResponse(damaged), /fails its CRC-32C/);
  assert.deepEqual(decodeChunkResponse(encodeChunkError("no such checkpoint")), {
    ok: false,
    message: "no such checkpoint",
  });
});
