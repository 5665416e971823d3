/**
 * The receiving side of a checkpoint transfer: fetches every file a descriptor lists in
 * bounded chunks (a few in flight), checks each chunk's CRC, each file's size and CRC, and
 * stages the checkpoint in `received_dir/<checkpoint_id>/`. Only when every file and the
 * directory are synced is the completion marker `received_dir/<checkpoint_id>.descriptor`
 * written (atomically: temporary file, sync, rename, directory sync). A staged checkpoint
 * without its marker is garbage; with it, it is a verified copy of the sender's checkpoint.
 *
 * @module
 */
import { join } from "node:path";
import type { FileSystem } from "../../../shared/fs/mod.ts";
import { crc32cUpdate } from "../../../shared/checksum/crc32c.ts";
import { decodeChunkResponse, encodeChunkRequest, MAX_CHUNK_BYTES } from "./chunk_protocol.ts";
import { removeDirectory } from "./checkpoint_server.ts";
import {
  checkpointIndexOf,
  decodeDescriptor,
  type DescribedFile,
  encodeDescriptor,
  type SnapshotDescriptor,
} from "./descriptor.ts";

/** A connection to the sender: one request, one response, in order. */
export interface ChunkSource {
  /** Sends an encoded request; resolves with the encoded response or rejects on timeout. */
  call(request: Uint8Array, timeout_ms: number): Promise<Uint8Array>;
  /** Closes the connection (pending calls reject). */
  close(): void;
}

/** Options of {@link fetchCheckpoint}. */
export interface FetchOptions {
  /** File layer. */
  fs: FileSystem;
  /** Where staged checkpoints and their markers live. */
  received_dir: string;
  /** What to fetch. */
  descriptor: SnapshotDescriptor;
  /** Opens a connection to the sender (called again after a failure). */
  connect: () => Promise<ChunkSource>;
  /** Bytes per chunk (default 1 MiB; at most {@link MAX_CHUNK_BYTES}). */
  chunk_bytes?: number;
  /** Chunks requested before the first answer arrives (default 4). */
  max_in_flight?: number;
  /** Failed attempts (connection, timeout, bad chunk) tolerated in a row (default 6). */
  max_attempts?: number;
  /** Timeout of one chunk (default 15 s). */
  chunk_timeout_ms?: number;
  /** Timeout of the whole transfer (default 10 min). */
  total_timeout_ms?: number;
  /** First pause after a failure, doubled up to 2 s (default 100 ms). */
  retry_delay_ms?: number;
  /** Reports retries. */
  log?: (line: string) => void;
}

/** What a finished fetch reports. */
export interface FetchResult {
  /** The staged checkpoint directory. */
  dir: string;
  /** Bytes received (0 when an earlier fetch had finished it already). */
  received_bytes: number;
  /** Failed attempts that were retried. */
  retries: number;
}

/** The transfer failed for good; the message says why. */
export class FetchError extends Error {
  /** @param message what failed */
  constructor(message: string) {
    super(`checkpoint fetch: ${message}`);
    this.name = "FetchError";
  }
}

/** Path of the staged checkpoint `id`. */
export function stagedDir(received_dir: string, id: string): string {
  return join(received_dir, id);
}

/** Path of the completion marker of staged checkpoint `id`. */
export function markerPath(received_dir: string, id: string): string {
  return join(received_dir, `${id}.descriptor`);
}

/** The descriptor of staged checkpoint `id` if it is complete, else undefined. */
export function completeDescriptor(
  fs: FileSystem,
  received_dir: string,
  id: string,
): SnapshotDescriptor | undefined {
  const path = markerPath(received_dir, id);
  if (!fs.exists(path) || !fs.exists(stagedDir(received_dir, id))) return undefined;
  try {
    const descriptor = decodeDescriptor(fs.readFile(path));
    return descriptor.checkpoint_id === id ? descriptor : undefined;
  } catch {
    return undefined; // a damaged marker makes the staged copy unusable, never half-trusted
  }
}

/** Every complete staged checkpoint, newest (highest applied index) first. */
export function completeCheckpoints(fs: FileSystem, received_dir: string): SnapshotDescriptor[] {
  if (!fs.exists(received_dir)) return [];
  const found: SnapshotDescriptor[] = [];
  for (const name of fs.list(received_dir)) {
    if (checkpointIndexOf(name) === undefined) continue;
    const descriptor = completeDescriptor(fs, received_dir, name);
    if (descriptor) found.push(descriptor);
  }
  return found.sort((a, b) => b.applied_index - a.applied_index);
}

/**
 * Removes staged checkpoints that are incomplete or not in `keep`, and markers whose
 * directory is gone. Call only while no fetch runs and no store is open in `received_dir`
 * other than those in `keep` (the member's start).
 */
export function removeStaged(fs: FileSystem, received_dir: string, keep: readonly string[]): void {
  if (!fs.exists(received_dir)) return;
  for (const name of fs.list(received_dir)) {
    const id = name.endsWith(".descriptor") ? name.slice(0, -".descriptor".length) : name;
    if (checkpointIndexOf(id) === undefined || keep.includes(id)) continue;
    if (name === id) removeDirectory(fs, join(received_dir, name));
    else fs.remove(join(received_dir, name));
  }
}

/**
 * Removes staged checkpoints without a marker (fetches cut short) and temporary markers.
 * Complete ones stay: one of them may be the member's open store.
 */
export function removeIncomplete(fs: FileSystem, received_dir: string): void {
  if (!fs.exists(received_dir)) return;
  for (const name of fs.list(received_dir)) {
    if (name.endsWith(".descriptor.tmp")) fs.remove(join(received_dir, name));
    else if (checkpointIndexOf(name) !== undefined && !fs.exists(markerPath(received_dir, name))) {
      removeDirectory(fs, join(received_dir, name));
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Fetches and stages the checkpoint `options.descriptor` describes; resolves once its marker
 * is durable. Reuses a complete staged copy. Retries connection failures, timeouts and bad
 * chunks from the first byte not yet written, with back-off, up to `max_attempts` in a row.
 *
 * @throws FetchError when the sender refuses, the attempts run out or the deadline passes
 */
export async function fetchCheckpoint(options: FetchOptions): Promise<FetchResult> {
  const { fs, received_dir, descriptor } = options;
  const id = descriptor.checkpoint_id;
  const dir = stagedDir(received_dir, id);
  if (completeDescriptor(fs, received_dir, id)) return { dir, received_bytes: 0, retries: 0 };
  const chunk_bytes = options.chunk_bytes ?? 1 << 20;
  if (!Number.isInteger(chunk_bytes) || chunk_bytes < 1 || chunk_bytes > MAX_CHUNK_BYTES) {
    throw new RangeError(`chunk_bytes must be an integer from 1 to ${MAX_CHUNK_BYTES}`);
  }
  const state = new TransferState(options, chunk_bytes);
  // One transfer at a time: an incomplete staged checkpoint is a leftover.
  fs.mkdir(received_dir);
  removeIncomplete(fs, received_dir);
  fs.mkdir(dir);
  try {
    for (const file of descriptor.files) await state.fetchFile(join(dir, file.name), file);
    await fs.syncDir(dir);
    const marker = markerPath(received_dir, id);
    const temporary = `${marker}.tmp`;
    const handle = fs.open(temporary, "create");
    try {
      handle.append(encodeDescriptor(descriptor));
      await handle.sync();
    } finally {
      handle.close();
    }
    fs.rename(temporary, marker);
    await fs.syncDir(received_dir);
  } finally {
    state.close();
  }
  return { dir, received_bytes: state.received_bytes, retries: state.retries };
}

/** The connection, counters and deadline of one transfer. */
class TransferState {
  readonly #options: FetchOptions;
  readonly #chunk_bytes: number;
  readonly #max_in_flight: number;
  readonly #max_attempts: number;
  readonly #chunk_timeout_ms: number;
  readonly #deadline_ms: number;
  #source: ChunkSource | undefined;
  #failures_in_row = 0;
  received_bytes = 0;
  retries = 0;

  constructor(options: FetchOptions, chunk_bytes: number) {
    this.#options = options;
    this.#chunk_bytes = chunk_bytes;
    this.#max_in_flight = Math.max(1, Math.min(options.max_in_flight ?? 4, 64));
    this.#max_attempts = Math.max(1, options.max_attempts ?? 6);
    this.#chunk_timeout_ms = options.chunk_timeout_ms ?? 15_000;
    this.#deadline_ms = Date.now() + (options.total_timeout_ms ?? 600_000);
  }

  /** Fetches one file into `path`, verifying its size and CRC. */
  async fetchFile(path: string, file: DescribedFile): Promise<void> {
    const handle = this.#options.fs.open(path, "create");
    try {
      let written = 0;
      let crc = 0;
      // Bounded: every pass writes at least one chunk or counts a failure toward the limit.
      while (written < file.size_bytes) {
        try {
          for (const chunk of await this.#window(file, written)) {
            handle.append(chunk);
            crc = crc32cUpdate(crc, chunk);
            written += chunk.length;
            this.received_bytes += chunk.length;
          }
          this.#failures_in_row = 0;
        } catch (error) {
          await this.#failed(error as Error, `${file.name} at ${written}`);
        }
      }
      if (crc !== file.crc32c) {
        // Every chunk passed its own CRC, so the sender's file differs from its descriptor.
        throw new FetchError(`${file.name} fails its CRC-32C after transfer (source damaged)`);
      }
      await handle.sync();
    } finally {
      handle.close();
    }
  }

  /** Requests up to max_in_flight chunks from `offset` at once; resolves with them in order. */
  async #window(file: DescribedFile, offset: number): Promise<Uint8Array[]> {
    if (Date.now() >= this.#deadline_ms) throw new FetchError("the transfer timed out");
    const source = await this.#connection();
    const requests: { offset: number; length: number }[] = [];
    for (let at = offset; at < file.size_bytes && requests.length < this.#max_in_flight;) {
      const length = Math.min(this.#chunk_bytes, file.size_bytes - at);
      requests.push({ offset: at, length });
      at += length;
    }
    const calls = requests.map((request) =>
      source.call(
        encodeChunkRequest({
          op: "read",
          checkpoint_id: this.#options.descriptor.checkpoint_id,
          file: file.name,
          ...request,
        }),
        this.#chunk_timeout_ms,
      )
    );
    // Every call is observed, so a failure of one does not leave the others unhandled.
    const settled = await Promise.allSettled(calls);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < settled.length; i++) {
      const outcome = settled[i];
      if (outcome.status === "rejected") throw outcome.reason;
      const response = decodeChunkResponse(outcome.value);
      if (!response.ok) throw new FetchError(`the sender refused: ${response.message}`);
      if (response.data.length !== requests[i].length) {
        throw new FetchError(
          `${file.name} ended at ${requests[i].offset + response.data.length} of ` +
            `${file.size_bytes} bytes (the sender's file is shorter than described)`,
        );
      }
      chunks.push(response.data);
    }
    return chunks;
  }

  async #connection(): Promise<ChunkSource> {
    this.#source ??= await this.#options.connect();
    return this.#source;
  }

  async #failed(error: Error, where: string): Promise<void> {
    // A refusal or a source that disagrees with its descriptor will not heal by retrying.
    if (error instanceof FetchError) throw error;
    this.#source?.close();
    this.#source = undefined;
    this.#failures_in_row++;
    this.retries++;
    if (this.#failures_in_row >= this.#max_attempts) {
      throw new FetchError(
        `${this.#failures_in_row} attempts in a row failed; last: ${error.message}`,
      );
    }
    this.#options.log?.(`checkpoint fetch: retrying ${where}: ${error.message}`);
    const base = this.#options.retry_delay_ms ?? 100;
    await sleep(Math.min(2_000, base * 2 ** (this.#failures_in_row - 1)));
  }

  close(): void {
    this.#source?.close();
    this.#source = undefined;
  }
}
