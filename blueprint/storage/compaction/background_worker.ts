/**
 * Entry module of the background Worker: receives flush and compaction requests over the
 * SharedArrayBuffer channel and runs them on the real disk, one at a time, in order.
 * Started by {@link WorkerExecutor}; not imported by anything else.
 *
 * @module
 */
import { acceptWorkerChannel, type RingSender } from "../../../shared/channel/mod.ts";
import { NodeFileSystem } from "../../../shared/fs/mod.ts";
import { lowerThreadPriority } from "../../../shared/runtime/mod.ts";
import { BlockCache } from "../table/mod.ts";
import { FlushWriter, runCompactionJob } from "./compaction_job.ts";
import { forEachArenaRange, type MemtableArena } from "../memtable.ts";
import {
  ARENA_MESSAGE_KIND,
  type ArenaMessage,
  type CompactRequest,
  decodeJson,
  decodeMessage,
  encodeJson,
  encodeMessage,
  type FlushBeginRequest,
  forEachChunkEntry,
  ReplyKind,
  RequestKind,
  type WorkerConfig,
} from "./worker_protocol.ts";

const REQUEST_KINDS = [
  RequestKind.Configure,
  RequestKind.FlushBegin,
  RequestKind.FlushChunk,
  RequestKind.FlushEnd,
  RequestKind.FlushAbort,
  RequestKind.Compact,
  RequestKind.Crash,
  RequestKind.FlushArena,
] as const;

/** Arenas that arrived by postMessage before their FlushArena request, by job id. */
const arrived_arenas = new Map<number, MemtableArena>();
/** FlushArena requests waiting for their arena, by job id. */
const arena_waiters = new Map<number, (arena: MemtableArena) => void>();
/** More arenas than this in flight means a protocol bug (the executor bounds pending jobs). */
const MAX_ARENAS_IN_FLIGHT = 1024;

/** The worker's global scope, typed narrowly: the repository is type-checked with the window lib. */
const worker_scope = globalThis as unknown as {
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
};

worker_scope.addEventListener("message", (event: MessageEvent) => {
  const data = event.data as ArenaMessage | null;
  if (data?.kind !== ARENA_MESSAGE_KIND) return;
  const arena = { nodes: data.nodes, bytes: data.bytes, entry_count: data.entry_count };
  const waiter = arena_waiters.get(data.job_id);
  if (waiter !== undefined) {
    arena_waiters.delete(data.job_id);
    waiter(arena);
    return;
  }
  if (arrived_arenas.size >= MAX_ARENAS_IN_FLIGHT) {
    throw new Error(`background worker: more than ${MAX_ARENAS_IN_FLIGHT} arenas in flight`);
  }
  arrived_arenas.set(data.job_id, arena);
});

/** The arena of job `job_id`, now or when its postMessage arrives. */
function arenaOf(job_id: number): Promise<MemtableArena> {
  const arena = arrived_arenas.get(job_id);
  if (arena !== undefined) {
    arrived_arenas.delete(job_id);
    return Promise.resolve(arena);
  }
  return new Promise((resolve) => arena_waiters.set(job_id, resolve));
}

interface FlushInProgress {
  job_id: number;
  dir: string;
  writer: FlushWriter;
  /** First error while adding entries; reported at FlushEnd. */
  failure: unknown;
}

async function reply(sender: RingSender, job_id: number, result: unknown): Promise<void> {
  await sender.send(encodeMessage(ReplyKind.Done, job_id, encodeJson(result)));
}

async function replyFailed(sender: RingSender, job_id: number, err: unknown): Promise<void> {
  const error = err instanceof Error ? err : new Error(String(err));
  await sender.send(
    encodeMessage(
      ReplyKind.Failed,
      job_id,
      encodeJson({ name: error.name, message: error.message }),
    ),
  );
}

async function serve(): Promise<void> {
  const { sender, receiver } = await acceptWorkerChannel();
  const first = await receiver.receive();
  if (first === null) return;
  const configure = decodeMessage(first, REQUEST_KINDS);
  if (configure.kind !== RequestKind.Configure) {
    throw new Error(
      `background worker: first message must configure it, got kind ${configure.kind}`,
    );
  }
  const config = decodeJson<WorkerConfig>(configure.payload);
  // Best effort: where the runtime cannot lower it, the worker runs at normal priority.
  if (config.thread_nice > 0) lowerThreadPriority(config.thread_nice);
  const fs = new NodeFileSystem();
  const cache = new BlockCache(config.cache_capacity_bytes);
  let flush: FlushInProgress | null = null;
  // One message per pass; the loop ends when the main side closes the channel.
  for (
    let message = await receiver.receive();
    message !== null;
    message = await receiver.receive()
  ) {
    const { kind, job_id, payload } = decodeMessage(message, REQUEST_KINDS);
    switch (kind) {
      case RequestKind.FlushBegin: {
        const request = decodeJson<FlushBeginRequest>(payload);
        try {
          const writer = new FlushWriter(
            fs,
            request.dir,
            request.file_number,
            config.table_options,
          );
          flush = { job_id, dir: request.dir, writer, failure: undefined };
        } catch (err) {
          await replyFailed(sender, job_id, err);
          flush = null;
        }
        break;
      }
      case RequestKind.FlushChunk: {
        if (flush === null || flush.job_id !== job_id || flush.failure !== undefined) break;
        const writer = flush.writer;
        try {
          forEachChunkEntry(payload, (key, value) => writer.add(key, value));
        } catch (err) {
          flush.failure = err;
        }
        break;
      }
      case RequestKind.FlushEnd:
      case RequestKind.FlushAbort: {
        if (flush === null || flush.job_id !== job_id) break; // its begin already failed
        const current: FlushInProgress = flush;
        flush = null;
        await finishFlush(sender, fs, current, kind === RequestKind.FlushAbort);
        break;
      }
      case RequestKind.FlushArena: {
        const request = decodeJson<FlushBeginRequest>(payload);
        const arena = await arenaOf(job_id);
        let writer: FlushWriter | null = null;
        try {
          writer = new FlushWriter(fs, request.dir, request.file_number, config.table_options);
          const adding = writer;
          forEachArenaRange(
            arena,
            (bytes, key_offset, key_length, value_offset, value_length) =>
              adding.addRange(bytes, key_offset, key_length, value_offset, value_length),
          );
        } catch (err) {
          writer?.abandon();
          await replyFailed(sender, job_id, err);
          break;
        }
        await finishFlush(
          sender,
          fs,
          { job_id, dir: request.dir, writer, failure: undefined },
          false,
        );
        break;
      }
      case RequestKind.Compact: {
        const request = decodeJson<CompactRequest>(payload);
        try {
          const outputs = await runCompactionJob(
            fs,
            request.dir,
            request.job,
            config.table_options,
            cache,
            config.limits,
          );
          await reply(sender, job_id, outputs);
        } catch (err) {
          await replyFailed(sender, job_id, err);
        }
        break;
      }
      case RequestKind.Crash:
        // Fault injection: die the way a bug would, with an uncaught error.
        setTimeout(() => {
          throw new Error("background worker crashed on request (fault injection)");
        });
        await new Promise(() => {});
        break;
      case RequestKind.Configure:
        throw new Error("background worker: configured twice");
    }
  }
  sender.close();
}

async function finishFlush(
  sender: RingSender,
  fs: NodeFileSystem,
  flush: FlushInProgress,
  aborted: boolean,
): Promise<void> {
  if (aborted || flush.failure !== undefined) {
    flush.writer.abandon();
    await replyFailed(
      sender,
      flush.job_id,
      flush.failure ?? new Error("flush aborted: the caller could not read all entries"),
    );
    return;
  }
  try {
    const meta = await flush.writer.finish();
    await fs.syncDir(flush.dir);
    await reply(sender, flush.job_id, meta);
  } catch (err) {
    await replyFailed(sender, flush.job_id, err);
  }
}

await serve();
self.close();
