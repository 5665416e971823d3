/**
 * The sending side of a checkpoint transfer: answers chunk reads from the checkpoints this
 * node made, remembers which checkpoints a transfer read lately, and deletes old checkpoints
 * only when no transfer is reading them.
 *
 * @module
 */
import { join } from "node:path";
import { type FileHandle, type FileSystem, NodeFileSystem } from "../../../shared/fs/mod.ts";
import {
  type ChunkRequest,
  decodeChunkRequest,
  encodeChunkData,
  encodeChunkError,
  type ReportRequest,
} from "./chunk_protocol.ts";
import { checkpointIndexOf } from "./descriptor.ts";

/** A checkpoint read within this long counts as being transferred (not deletable). */
export const TRANSFER_IDLE_MS = 60_000;

/** Most files held open for transfers at once (least recently used are closed first). */
const MAX_OPEN_FILES = 16;

/** Options of a {@link CheckpointServer}. */
export interface CheckpointServerOptions {
  /** File layer (the real disk in production). */
  fs: FileSystem;
  /** Directory holding one sub-directory per checkpoint. */
  checkpoints_dir: string;
  /** Called with each receiver's report (the driver tells Raft about failures). */
  on_report?: (from: string, report: ReportRequest) => void;
  /** Clock (tests). */
  now_ms?: () => number;
}

/**
 * Serves chunk reads of local checkpoints.
 *
 * @example
 * ```ts
 * const server = new CheckpointServer({ fs: new NodeFileSystem(), checkpoints_dir: "data/checkpoints" });
 * const response = server.handle("n2", requestBytes);
 * server.prune(["c0000000000000042-0a1b2c3d"]);
 * ```
 */
export class CheckpointServer {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #on_report: (from: string, report: ReportRequest) => void;
  readonly #now_ms: () => number;
  readonly #open = new Map<string, FileHandle>();
  readonly #last_read_ms = new Map<string, number>();
  /** Chunks served (for status and tests). */
  chunks_served = 0;

  /** @param options see {@link CheckpointServerOptions} */
  constructor(options: CheckpointServerOptions) {
    this.#fs = options.fs;
    this.#dir = options.checkpoints_dir;
    this.#on_report = options.on_report ?? (() => {});
    this.#now_ms = options.now_ms ?? Date.now;
  }

  /** Answers one encoded request with an encoded response; never throws. */
  handle(from: string, request_bytes: Uint8Array): Uint8Array {
    let request: ChunkRequest;
    try {
      request = decodeChunkRequest(request_bytes);
    } catch (error) {
      return encodeChunkError((error as Error).message);
    }
    if (request.op === "report") {
      this.#on_report(from, request);
      return encodeChunkData(new Uint8Array(0));
    }
    try {
      const handle = this.#handleOf(request.checkpoint_id, request.file);
      this.#last_read_ms.set(request.checkpoint_id, this.#now_ms());
      const size = handle.size();
      const length = Math.max(0, Math.min(request.length, size - request.offset));
      const data = new Uint8Array(length);
      // Bounded: each step reads some bytes or stops at the end of the file.
      for (let filled = 0; filled < length;) {
        const read = handle.readAt(data.subarray(filled), request.offset + filled);
        if (read === 0) return encodeChunkData(data.subarray(0, filled));
        filled += read;
      }
      this.chunks_served++;
      return encodeChunkData(data);
    } catch (error) {
      return encodeChunkError(
        `cannot read ${request.checkpoint_id}/${request.file}: ${(error as Error).message}`,
      );
    }
  }

  /** Whether a transfer read checkpoint `id` within the last {@link TRANSFER_IDLE_MS}. */
  inUse(id: string): boolean {
    const last = this.#last_read_ms.get(id);
    return last !== undefined && this.#now_ms() - last < TRANSFER_IDLE_MS;
  }

  /**
   * Deletes the checkpoints that are not in `keep`, are older than the newest kept one (a
   * newer one may be on its way to Raft) and that no transfer read lately. Returns the ids
   * deleted.
   */
  prune(keep: readonly string[]): string[] {
    const newest = Math.max(-1, ...keep.map((id) => checkpointIndexOf(id) ?? -1));
    if (!this.#fs.exists(this.#dir)) return [];
    const deleted: string[] = [];
    for (const name of this.#fs.list(this.#dir)) {
      const index = checkpointIndexOf(name);
      if (index === undefined || keep.includes(name) || index >= newest || this.inUse(name)) {
        continue;
      }
      this.#closeFilesOf(name);
      this.#last_read_ms.delete(name);
      removeDirectory(this.#fs, join(this.#dir, name));
      deleted.push(name);
    }
    return deleted;
  }

  /** Closes every open file. */
  close(): void {
    for (const handle of this.#open.values()) handle.close();
    this.#open.clear();
  }

  #handleOf(id: string, file: string): FileHandle {
    const path = join(this.#dir, id, file);
    let handle = this.#open.get(path);
    if (handle) {
      this.#open.delete(path); // re-inserted below: most recently used last
    } else {
      handle = this.#fs.open(path, "read");
      if (this.#open.size >= MAX_OPEN_FILES) {
        const [oldest_path, oldest] = this.#open.entries().next().value!;
        oldest.close();
        this.#open.delete(oldest_path);
      }
    }
    this.#open.set(path, handle);
    return handle;
  }

  #closeFilesOf(id: string): void {
    const prefix = join(this.#dir, id) + "/";
    for (const [path, handle] of [...this.#open]) {
      if (!path.startsWith(prefix)) continue;
      handle.close();
      this.#open.delete(path);
    }
  }
}

/**
 * Removes a flat directory (a checkpoint or a store: no sub-directories) and its files. On
 * the real disk the directory itself goes too; the in-memory test file system keeps empty
 * directories, which is harmless.
 */
export function removeDirectory(fs: FileSystem, dir: string): void {
  if (!fs.exists(dir)) return;
  if (fs instanceof NodeFileSystem) {
    Deno.removeSync(dir, { recursive: true });
    return;
  }
  for (const name of fs.list(dir)) fs.remove(join(dir, name));
}
