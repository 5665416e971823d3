/**
 * Which directory holds the member's store, and how a checkpoint received from the leader
 * becomes the store in one atomic step.
 *
 * ```
 * DATA/STORE                      name of the current store directory ("kv" when absent)
 * DATA/kv/                        the store a member starts with
 * DATA/checkpoints/<id>/          checkpoints this member made (served to peers)
 * DATA/received/<id>/             a checkpoint fetched from a peer ...
 * DATA/received/<id>.descriptor   ... and the marker that says it is complete and verified
 *                                 (kept while that checkpoint is the store)
 * DATA/raft/                      the Raft log
 * ```
 *
 * The switch is LevelDB's CURRENT-file pattern: close the old store, write the new name to
 * `STORE.tmp`, sync it, rename it over `STORE`, sync the directory, open the new store. The
 * rename is the commit point, so a crash leaves `STORE` naming the old store or the new one,
 * both complete, never a mix; and a complete staged checkpoint newer than the store is
 * adopted at the next start (Raft may already have recorded the snapshot it belongs to).
 *
 * @module
 */
import { join } from "node:path";
import type { FileSystem } from "../../shared/fs/mod.ts";
import { appliedIndexOf } from "../kv/mod.ts";
import {
  completeCheckpoints,
  completeDescriptor,
  markerPath,
  removeDirectory,
  removeStaged,
  type SnapshotDescriptor,
} from "../raft/mod.ts";
import type { Storage } from "../storage/mod.ts";

/** The pointer file naming the current store directory. */
export const STORE_POINTER_FILE = "STORE";
/** The store directory of a member that never installed a snapshot. */
export const INITIAL_STORE = "kv";
/** Directory of the member's own checkpoints. */
export const CHECKPOINTS_DIR = "checkpoints";
/** Directory of checkpoints received from peers. */
export const RECEIVED_DIR = "received";

const STORE_NAME_PATTERN = /^(kv|received\/c\d{16}-[0-9a-f]{8})$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The file layer and how to open a store. */
export interface StoreDirectoryOptions {
  /** File layer (the real disk in production, FaultyFileSystem in crash tests). */
  fs: FileSystem;
  /** The member's data directory. */
  data_dir: string;
  /** Opens the store in `dir` (Storage.open with the member's options). */
  open(dir: string): Promise<Storage>;
  /** Receives one line per notable step. */
  log?: (line: string) => void;
}

/** The name (relative to the data directory) of the current store directory. */
export function currentStoreName(fs: FileSystem, data_dir: string): string {
  const path = join(data_dir, STORE_POINTER_FILE);
  if (!fs.exists(path)) return INITIAL_STORE;
  const name = decoder.decode(fs.readFile(path)).trim();
  if (!STORE_NAME_PATTERN.test(name)) {
    throw new Error(
      `${path} names "${name}"; allowed: "${INITIAL_STORE}" or "${RECEIVED_DIR}/<checkpoint id>"`,
    );
  }
  return name;
}

/** Makes `name` the current store directory, atomically and durably. */
export async function writeStorePointer(
  fs: FileSystem,
  data_dir: string,
  name: string,
): Promise<void> {
  if (!STORE_NAME_PATTERN.test(name)) throw new Error(`not a store directory name: "${name}"`);
  const path = join(data_dir, STORE_POINTER_FILE);
  const temporary = `${path}.tmp`;
  const handle = fs.open(temporary, "create");
  try {
    handle.append(encoder.encode(`${name}\n`));
    await handle.sync();
  } finally {
    handle.close();
  }
  fs.rename(temporary, path);
  await fs.syncDir(data_dir);
}

/**
 * Opens the current store; first adopts the newest complete received checkpoint if it is
 * ahead of the store, and removes what an interrupted switch or fetch left behind.
 */
export async function openCurrentStore(options: StoreDirectoryOptions): Promise<Storage> {
  const { fs, data_dir } = options;
  fs.mkdir(data_dir);
  const received_dir = join(data_dir, RECEIVED_DIR);
  let storage = await options.open(join(data_dir, currentStoreName(fs, data_dir)));
  const newest = completeCheckpoints(fs, received_dir)[0];
  if (newest && newest.applied_index > appliedIndexOf(storage)) {
    options.log?.(
      `adopting checkpoint ${newest.checkpoint_id} (index ${newest.applied_index}) received ` +
        `before a restart`,
    );
    storage = await switchStore(options, storage, newest);
  }
  removeLeftovers(fs, data_dir);
  return storage;
}

/**
 * Closes `current`, makes the complete received checkpoint `descriptor` the store, opens it
 * and removes the old store. Throws before touching anything if the checkpoint is not staged
 * and complete.
 */
export async function switchStore(
  options: StoreDirectoryOptions,
  current: Storage,
  descriptor: SnapshotDescriptor,
): Promise<Storage> {
  const { fs, data_dir } = options;
  const received_dir = join(data_dir, RECEIVED_DIR);
  const id = descriptor.checkpoint_id;
  const staged = completeDescriptor(fs, received_dir, id);
  if (!staged || staged.applied_index !== descriptor.applied_index) {
    throw new Error(`checkpoint ${id} is not staged and complete in ${received_dir}`);
  }
  const old_name = currentStoreName(fs, data_dir);
  const new_name = `${RECEIVED_DIR}/${id}`;
  await current.close();
  await writeStorePointer(fs, data_dir, new_name);
  const storage = await options.open(join(data_dir, new_name));
  options.log?.(`store is now ${new_name} (index ${descriptor.applied_index})`);
  // The new store keeps its marker: complete staged checkpoints are never deleted by a
  // fetch, and the store is one. Other leftovers go at the next start.
  if (old_name !== new_name) {
    removeDirectory(fs, join(data_dir, old_name));
    if (old_name.startsWith(`${RECEIVED_DIR}/`)) {
      fs.remove(markerPath(received_dir, old_name.slice(RECEIVED_DIR.length + 1)));
    }
  }
  return storage;
}

/** Removes old stores, incomplete fetches and markers that no longer matter. */
function removeLeftovers(fs: FileSystem, data_dir: string): void {
  const current = currentStoreName(fs, data_dir);
  if (current !== INITIAL_STORE) removeDirectory(fs, join(data_dir, INITIAL_STORE));
  const current_id = current.startsWith(`${RECEIVED_DIR}/`)
    ? current.slice(RECEIVED_DIR.length + 1)
    : "";
  removeStaged(fs, join(data_dir, RECEIVED_DIR), current_id ? [current_id] : []);
  fs.remove(join(data_dir, `${STORE_POINTER_FILE}.tmp`));
}
