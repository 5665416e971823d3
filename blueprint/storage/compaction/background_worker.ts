/**
 * Entry module of the background Worker: receives flush and compaction requests over the
 * SharedArrayBuffer channel and runs them on the real disk, one at a time, in order.
 * Started by {@link WorkerExecutor}; not imported by anything else.
 *
 * @module
 */
import { acceptWorkerChannel, type RingSender } from "../../../shared/channel/mod.ts";
import { NodeFileSystem } from "../../../shared/fs/mod.ts";
import { BlockCache } from "../table/mod.ts";
import { FlushWriter, runCompactionJob } from "./compaction_job.ts";
import {
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
] as const;

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
