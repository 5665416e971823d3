import assert from "node:assert/strict";
import { FaultyFileSystem, seededRng } from "../../shared/fs/mod.ts";
import { appliedIndexOf, KvStateMachine } from "../kv/mod.ts";
import {
  decodeDescriptor,
  encodeDescriptor,
  markerPath,
  newCheckpointId,
  removeIncomplete,
} from "../raft/mod.ts";
import { Storage, WriteBatch } from "../storage/mod.ts";
import { encodeRequest } from "../kv/mod.ts";
import {
  currentStoreName,
  openCurrentStore,
  RECEIVED_DIR,
  type StoreDirectoryOptions,
  switchStore,
  writeStorePointer,
} from "./store_directory.ts";

const SEED = Number(Deno.env.get("TEST_SEED") ?? 4242);
const DATA = "/member";
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : "(none)");

function storeOptions(fs: FaultyFileSystem): StoreDirectoryOptions {
  return { fs, data_dir: DATA, open: (dir) => Storage.open(dir, { fs, background: "inline" }) };
}

/** A store whose every key says which state it belongs to, applied up to `index`. */
async function fillStore(storage: Storage, label: string, index: number): Promise<void> {
  const machine = await KvStateMachine.open(storage);
  for (let i = 1; i <= index; i++) {
    const request = {
      origin: { member_id: label, sequence: i },
      body: { type: "put" as const, key: bytes(`key-${i % 7}`), value: bytes(label) },
    };
    await machine.apply(i, 1, encodeRequest(request));
  }
  machine.close();
  await storage.write(new WriteBatch().put(bytes("zz-label"), bytes(label)), { sync: true });
}

/** Stages checkpoint `label` (index 30) in the received directory as the Raft worker would. */
async function stageNewState(
  fs: FaultyFileSystem,
  label = "new",
  index = 30,
): Promise<{ id: string; data: Uint8Array }> {
  const source = await Storage.open(`/leader/${label}`, { fs, background: "inline" });
  await fillStore(source, label, index);
  const id = newCheckpointId(index);
  const info = await source.checkpoint(`${DATA}/${RECEIVED_DIR}/${id}`);
  await source.close();
  const data = encodeDescriptor({
    checkpoint_id: id,
    applied_index: index,
    applied_term: 1,
    files: info.files,
    size_bytes: info.size_bytes,
  });
  const marker = fs.open(markerPath(`${DATA}/${RECEIVED_DIR}`, id), "create");
  marker.append(data);
  await marker.sync();
  marker.close();
  await fs.syncDir(`${DATA}/${RECEIVED_DIR}`);
  return { id, data };
}

/** Reads the whole state's label; fails if keys of both states are mixed. */
function stateOf(storage: Storage): string {
  const labels = new Set<string>();
  labels.add(text(storage.get(bytes("zz-label"))));
  for (let i = 0; i < 7; i++) {
    const raw = storage.get(Uint8Array.of(...bytes(`key-${i}`)));
    if (raw) labels.add(text(raw));
  }
  assert.equal(labels.size, 1, `one state, not a mix: ${[...labels]}`);
  return [...labels][0];
}

Deno.test("store directory: the pointer names the store; bad pointers are refused", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir(DATA);
  assert.equal(currentStoreName(fs, DATA), "kv");
  await writeStorePointer(fs, DATA, "received/c0000000000000009-00000000");
  assert.equal(currentStoreName(fs, DATA), "received/c0000000000000009-00000000");
  await assert.rejects(writeStorePointer(fs, DATA, "../etc"), /not a store directory name/);
  const handle = fs.open(`${DATA}/STORE`, "create");
  handle.append(bytes("/tmp/elsewhere"));
  handle.close();
  assert.throws(() => currentStoreName(fs, DATA), /names "\/tmp\/elsewhere"; allowed: "kv"/);
});

Deno.test("store directory: a switch swaps whole stores; an unstaged checkpoint is refused", async () => {
  const fs = new FaultyFileSystem();
  const options = storeOptions(fs);
  const old_store = await openCurrentStore(options);
  await fillStore(old_store, "old", 12);
  const { id, data } = await stageNewState(fs);
  const missing = { ...decodeDescriptor(data), checkpoint_id: newCheckpointId(30) };
  await assert.rejects(switchStore(options, old_store, missing), /is not staged and complete/);
  const switched = await switchStore(options, old_store, decodeDescriptor(data));
  assert.equal(stateOf(switched), "new");
  assert.equal(appliedIndexOf(switched), 30);
  assert.equal(currentStoreName(fs, DATA), `${RECEIVED_DIR}/${id}`);
  assert.equal(fs.exists(`${DATA}/kv/MANIFEST`), false, "the old store is removed");
  await switched.close();
  const reopened = await openCurrentStore(options);
  assert.equal(stateOf(reopened), "new", "a restart opens the switched store");
  await reopened.close();
});

Deno.test("store directory: a crash at any step of a switch leaves one whole state", async () => {
  const seen = new Map<string, number>();
  for (let fault_after = 0; fault_after < 60; fault_after++) {
    const fs = new FaultyFileSystem();
    const options = storeOptions(fs);
    const store = await openCurrentStore(options);
    await fillStore(store, "old", 12);
    const { data } = await stageNewState(fs);
    fs.failAfter(fault_after);
    const finished = await switchStore(options, store, decodeDescriptor(data)).then(
      async (switched) => {
        await switched.close();
        return true;
      },
      () => false,
    );
    fs.crash(seededRng(SEED + fault_after), { tear_last_write: true });
    // The restart: the staged checkpoint is complete and ahead, so it is adopted if the
    // pointer did not reach it yet. Either way the member holds one whole state.
    const reopened = await openCurrentStore(options);
    const state = stateOf(reopened);
    seen.set(state, (seen.get(state) ?? 0) + 1);
    assert.equal(
      state,
      "new",
      `seed ${SEED}, fault after ${fault_after}: complete staged state wins`,
    );
    assert.equal(appliedIndexOf(reopened), 30);
    await reopened.close();
    if (finished) break;
  }
  assert.ok((seen.get("new") ?? 0) > 3, `crash points tried: ${JSON.stringify([...seen])}`);
});

Deno.test("store directory: without a complete staged checkpoint a crash keeps the old store", async () => {
  const fs = new FaultyFileSystem();
  const options = storeOptions(fs);
  const store = await openCurrentStore(options);
  await fillStore(store, "old", 12);
  const { id } = await stageNewState(fs);
  await store.close();
  fs.remove(markerPath(`${DATA}/${RECEIVED_DIR}`, id)); // the fetch never finished
  await fs.syncDir(`${DATA}/${RECEIVED_DIR}`);
  fs.crash(seededRng(SEED), { tear_last_write: true });
  const reopened = await openCurrentStore(options);
  assert.equal(stateOf(reopened), "old");
  assert.equal(
    fs.exists(`${DATA}/${RECEIVED_DIR}/${id}/MANIFEST`),
    false,
    "the partial fetch is cleared",
  );
  await reopened.close();
});

Deno.test("store directory: a received store survives later fetches and goes at the next switch", async () => {
  const fs = new FaultyFileSystem();
  const options = storeOptions(fs);
  const first = await stageNewState(fs, "first", 30);
  const store = await switchStore(
    options,
    await openCurrentStore(options),
    decodeDescriptor(first.data),
  );
  // A later fetch clears what is incomplete, never the open store.
  fs.mkdir(`${DATA}/${RECEIVED_DIR}/${newCheckpointId(40)}`);
  removeIncomplete(fs, `${DATA}/${RECEIVED_DIR}`);
  assert.equal(fs.exists(`${DATA}/${RECEIVED_DIR}/${first.id}/MANIFEST`), true);
  assert.equal(stateOf(store), "first");
  const second = await stageNewState(fs, "second", 60);
  const next = await switchStore(options, store, decodeDescriptor(second.data));
  assert.equal(stateOf(next), "second");
  assert.equal(fs.exists(`${DATA}/${RECEIVED_DIR}/${first.id}/MANIFEST`), false, "old store gone");
  assert.equal(fs.exists(markerPath(`${DATA}/${RECEIVED_DIR}`, first.id)), false);
  await next.close();
  const reopened = await openCurrentStore(options);
  assert.equal(stateOf(reopened), "second");
  assert.equal(appliedIndexOf(reopened), 60);
  await reopened.close();
});
