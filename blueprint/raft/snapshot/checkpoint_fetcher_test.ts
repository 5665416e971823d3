import assert from "node:assert/strict";
import { crc32c } from "../../../shared/checksum/crc32c.ts";
import { FaultyFileSystem, seededRng } from "../../../shared/fs/mod.ts";
import {
  CheckpointServer,
  type ChunkSource,
  completeDescriptor,
  fetchCheckpoint,
  FetchError,
  type FetchOptions,
  newCheckpointId,
  type SnapshotDescriptor,
  stagedDir,
} from "./mod.ts";

const SEED = Number(Deno.env.get("TEST_SEED") ?? 20261126);
const CHECKPOINTS = "/sender/checkpoints";
const RECEIVED = "/receiver/received";

/** A sender with one checkpoint of three files of seeded random bytes. */
function makeSender(seed: number) {
  const fs = new FaultyFileSystem();
  const random = seededRng(seed);
  const id = newCheckpointId(77);
  const sizes: Record<string, number> = { "000005.sst": 300_000, "000009.sst": 0, MANIFEST: 123 };
  const contents = new Map<string, Uint8Array>();
  fs.mkdir(`${CHECKPOINTS}/${id}`);
  for (const [name, size] of Object.entries(sizes)) {
    const data = new Uint8Array(size).map(() => Math.floor(random() * 256));
    const file = fs.open(`${CHECKPOINTS}/${id}/${name}`, "create");
    file.append(data);
    file.close();
    contents.set(name, data);
  }
  const descriptor: SnapshotDescriptor = {
    checkpoint_id: id,
    applied_index: 77,
    applied_term: 2,
    files: [...contents].map(([name, data]) => ({
      name,
      size_bytes: data.length,
      crc32c: crc32c(data),
    })),
    size_bytes: [...contents.values()].reduce((sum, data) => sum + data.length, 0),
  };
  return {
    fs,
    id,
    contents,
    descriptor,
    server: new CheckpointServer({ fs, checkpoints_dir: CHECKPOINTS }),
  };
}

/** A connection straight into the server, with faults on chosen calls (numbered from 1). */
function connector(
  server: CheckpointServer,
  faults: { corrupt?: Set<number>; reject?: Set<number>; always_reject?: boolean } = {},
) {
  let calls = 0;
  let connects = 0;
  const connect = (): Promise<ChunkSource> => {
    connects++;
    return Promise.resolve({
      call(request: Uint8Array): Promise<Uint8Array> {
        const number = ++calls;
        if (faults.always_reject || faults.reject?.has(number)) {
          return Promise.reject(new Error(`connection reset at call ${number}`));
        }
        const response = server.handle("n2", request);
        if (faults.corrupt?.has(number) && response.length > 6) response[6] ^= 0xff;
        return Promise.resolve(response);
      },
      close() {},
    });
  };
  return { connect, stats: () => ({ calls, connects }) };
}

function options(
  fs: FaultyFileSystem,
  descriptor: SnapshotDescriptor,
  connect: () => Promise<ChunkSource>,
): FetchOptions {
  return {
    fs,
    received_dir: RECEIVED,
    descriptor,
    connect,
    chunk_bytes: 64 * 1024,
    max_in_flight: 2,
    retry_delay_ms: 1,
  };
}

function assertStaged(fs: FaultyFileSystem, sender: ReturnType<typeof makeSender>): void {
  assert.deepEqual(completeDescriptor(fs, RECEIVED, sender.id), sender.descriptor);
  for (const [name, data] of sender.contents) {
    assert.deepEqual(fs.readFile(`${stagedDir(RECEIVED, sender.id)}/${name}`), data, name);
  }
}

Deno.test("checkpoint fetch: chunks, verification, retries and failures", async (t) => {
  await t.step(
    "stages every file in chunks; a corrupted chunk is rejected and retried",
    async () => {
      const sender = makeSender(SEED);
      const fs = new FaultyFileSystem();
      const source = connector(sender.server, { corrupt: new Set([3]) });
      const result = await fetchCheckpoint(options(fs, sender.descriptor, source.connect));
      assert.equal(result.retries, 1, `seed ${SEED}: one retry for the damaged chunk`);
      assert.equal(result.received_bytes, sender.descriptor.size_bytes);
      assert.equal(source.stats().connects, 2, "the connection is replaced after a bad chunk");
      assertStaged(fs, sender);
      const again = await fetchCheckpoint(options(fs, sender.descriptor, source.connect));
      assert.equal(again.received_bytes, 0, "a complete staged copy is reused");
    },
  );

  await t.step("a lost connection resumes from the first byte not written", async () => {
    const sender = makeSender(SEED + 1);
    const fs = new FaultyFileSystem();
    const source = connector(sender.server, { reject: new Set([2, 5]) });
    const result = await fetchCheckpoint(options(fs, sender.descriptor, source.connect));
    assert.equal(result.retries, 2);
    assertStaged(fs, sender);
  });

  await t.step("the sender's refusal fails at once, with its reason", async () => {
    const sender = makeSender(SEED + 2);
    const fs = new FaultyFileSystem();
    const missing = { ...sender.descriptor, checkpoint_id: newCheckpointId(77) };
    const source = connector(sender.server);
    await assert.rejects(
      fetchCheckpoint(options(fs, missing, source.connect)),
      (error: Error) =>
        error instanceof FetchError && /the sender refused: cannot read/.test(error.message),
    );
    assert.equal(completeDescriptor(fs, RECEIVED, missing.checkpoint_id), undefined);
  });

  await t.step("a file that does not match its descriptor is refused", async () => {
    const sender = makeSender(SEED + 3);
    const fs = new FaultyFileSystem();
    const files = sender.descriptor.files.map((f) =>
      f.name === "MANIFEST" ? { ...f, crc32c: (f.crc32c + 1) >>> 0 } : f
    );
    await assert.rejects(
      fetchCheckpoint(
        options(fs, { ...sender.descriptor, files }, connector(sender.server).connect),
      ),
      /MANIFEST fails its CRC-32C after transfer/,
    );
    const longer = sender.descriptor.files.map((f) =>
      f.name === "MANIFEST" ? { ...f, size_bytes: f.size_bytes + 10 } : f
    );
    await assert.rejects(
      fetchCheckpoint(
        options(
          fs,
          { ...sender.descriptor, files: longer, size_bytes: sender.descriptor.size_bytes + 10 },
          connector(sender.server).connect,
        ),
      ),
      /MANIFEST ended at 123 of 133 bytes/,
    );
  });

  await t.step("attempts in a row are bounded", async () => {
    const sender = makeSender(SEED + 4);
    const fs = new FaultyFileSystem();
    const source = connector(sender.server, { always_reject: true });
    await assert.rejects(
      fetchCheckpoint({ ...options(fs, sender.descriptor, source.connect), max_attempts: 3 }),
      /3 attempts in a row failed; last: connection reset/,
    );
    assert.equal(source.stats().connects, 3);
  });
});

Deno.test("checkpoint fetch: a crash at any point leaves nothing usable or a complete copy", async () => {
  const sender = makeSender(SEED);
  let complete = 0;
  let incomplete = 0;
  for (let fault_after = 0; fault_after < 200; fault_after += 3) {
    const fs = new FaultyFileSystem();
    fs.failAfter(fault_after);
    const fetched = await fetchCheckpoint(
      options(fs, sender.descriptor, connector(sender.server).connect),
    ).then(() => true, () => false);
    fs.crash(seededRng(SEED + fault_after), { tear_last_write: true });
    if (completeDescriptor(fs, RECEIVED, sender.id)) {
      complete++;
      assertStaged(fs, sender); // a marker that survived vouches for every byte
    } else {
      incomplete++;
      assert.equal(fetched, false, `a fetch that resolved is durable (fault ${fault_after})`);
      // A retry after the crash clears the leftovers and finishes.
      await fetchCheckpoint(options(fs, sender.descriptor, connector(sender.server).connect));
      assertStaged(fs, sender);
    }
    if (fetched && fault_after > 150) break;
  }
  assert.ok(complete > 0 && incomplete > 0, `both outcomes: ${complete} / ${incomplete}`);
});

Deno.test("checkpoint server: bad requests, and pruning spares kept, newer and busy ones", () => {
  const sender = makeSender(SEED);
  let now = 1_000_000;
  const server = new CheckpointServer({
    fs: sender.fs,
    checkpoints_dir: CHECKPOINTS,
    now_ms: () => now,
  });
  const older = newCheckpointId(10);
  const oldest = newCheckpointId(5);
  const newer = newCheckpointId(90);
  for (const id of [older, oldest, newer]) {
    sender.fs.mkdir(`${CHECKPOINTS}/${id}`);
    sender.fs.open(`${CHECKPOINTS}/${id}/MANIFEST`, "create").close();
  }
  const error = new TextDecoder().decode(server.handle("n2", Uint8Array.of(1, 123)).subarray(1));
  assert.match(error, /request body is not JSON/);
  const read = (id: string) =>
    Uint8Array.of(
      1,
      ...new TextEncoder().encode(JSON.stringify({
        checkpoint_id: id,
        file: "MANIFEST",
        offset: 0,
        length: 10,
      })),
    );
  assert.equal(server.handle("n2", read(older))[0], 0, "an empty file reads as no bytes");
  assert.equal(server.inUse(older), true);
  const deleted = server.prune([sender.id]);
  assert.deepEqual(deleted, [oldest], "busy, kept and newer checkpoints stay");
  now += 120_000;
  // The in-memory file system keeps emptied directories, so `oldest` may be listed again.
  assert.ok(server.prune([sender.id]).includes(older), "idle now");
  assert.equal(sender.fs.exists(`${CHECKPOINTS}/${newer}/MANIFEST`), true);
  server.close();
});
