/**
 * The snapshot stream format: a full dump of the keyspace at one storage snapshot, in frames
 * of bounded size, each checksummed and numbered.
 *
 * Frame: `u8 kind | varint frame_number | payload | u32le crc32c(kind .. payload)`.
 * - kind 1 header: `varint format(1) | string kind name | varint applied_index |
 *   varint applied_term | varint revision`. The kind name ("dump") leaves room for a later
 *   "checkpoint" kind that ships LSM files instead of key-value pairs.
 * - kind 2 records: `varint count | (bytes key | bytes value)*`.
 * - kind 3 trailer: `varint total_records`.
 *
 * @module
 */
import { crc32c } from "../../shared/checksum/crc32c.ts";
import type { Storage } from "../storage/mod.ts";
import { ByteReader, ByteWriter } from "./byte_codec.ts";
import { decodeMeta, META_KEY } from "./keyspace.ts";
import { KvError } from "./types.ts";

const DUMP_FORMAT = 1;
/** Frame kinds. */
export const FRAME = { header: 1, records: 2, trailer: 3 } as const;

/** The header of a snapshot stream. */
export interface SnapshotHeader {
  /** Last Raft index the snapshot contains. */
  applied_index: number;
  /** Its term. */
  applied_term: number;
  /** Store revision at that index. */
  revision: number;
}

function frame(kind: number, number: number, payload: Uint8Array): Uint8Array {
  const out = new ByteWriter(payload.length + 16).u8(kind).varint(number).raw(payload);
  const body = out.finish();
  const framed = new Uint8Array(body.length + 4);
  framed.set(body);
  new DataView(framed.buffer).setUint32(body.length, crc32c(body), true);
  return framed;
}

/**
 * Frames of a full dump of `storage` at one storage snapshot; `chunk_bytes` bounds the
 * payload of a records frame (one record may exceed it alone). The storage snapshot is
 * taken at the first `next()` and released when the generator finishes or is returned.
 */
export function* dumpFrames(storage: Storage, chunk_bytes: number): Generator<Uint8Array> {
  const snapshot = storage.snapshot();
  try {
    const meta_bytes = storage.get(META_KEY, { snapshot });
    if (meta_bytes === undefined) throw new Error("snapshotData: the store has no meta record");
    const meta = decodeMeta(meta_bytes);
    let number = 0;
    const header = new ByteWriter(64).varint(DUMP_FORMAT).string("dump");
    header.varint(meta.applied_index).varint(meta.applied_term).varint(meta.revision);
    yield frame(FRAME.header, number++, header.finish());
    let chunk = new ByteWriter(Math.min(chunk_bytes, 1 << 20));
    let in_chunk = 0;
    let total = 0;
    for (const { key, value } of storage.scan({ snapshot })) {
      chunk.bytes(key).bytes(value);
      in_chunk++;
      total++;
      if (chunk.length >= chunk_bytes) {
        yield recordsFrame(number++, in_chunk, chunk);
        chunk = new ByteWriter(Math.min(chunk_bytes, 1 << 20));
        in_chunk = 0;
      }
    }
    if (in_chunk > 0) yield recordsFrame(number++, in_chunk, chunk);
    yield frame(FRAME.trailer, number, new ByteWriter(8).varint(total).finish());
  } finally {
    snapshot.release();
  }
}

function recordsFrame(number: number, count: number, chunk: ByteWriter): Uint8Array {
  return frame(
    FRAME.records,
    number,
    new ByteWriter(chunk.length + 8).varint(count).raw(chunk.finish()).finish(),
  );
}

/** A checked frame. */
export type DecodedFrame =
  | { kind: "header"; header: SnapshotHeader }
  | { kind: "records"; records: { key: Uint8Array; value: Uint8Array }[] }
  | { kind: "trailer"; total_records: number };

function bad(message: string): never {
  throw new KvError("invalid_argument", `snapshot data is damaged: ${message}`);
}

/**
 * Checks a frame's checksum and number and decodes it.
 *
 * @throws KvError(invalid_argument) naming what is damaged.
 */
export function decodeFrame(bytes: Uint8Array, expected_number: number): DecodedFrame {
  if (!(bytes instanceof Uint8Array) || bytes.length < 6) bad(`frame ${expected_number} too short`);
  const body = bytes.subarray(0, bytes.length - 4);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + body.length, 4).getUint32(0, true);
  if (crc32c(body) !== stored) bad(`frame ${expected_number} fails its checksum`);
  const input = new ByteReader(body, `snapshot frame ${expected_number}`);
  const kind = input.u8();
  const number = input.varint();
  if (number !== expected_number) bad(`frame ${number} arrived where ${expected_number} was due`);
  if (kind === FRAME.header) return { kind: "header", header: readHeader(input) };
  if (kind === FRAME.records) {
    const count = input.varint();
    if (count > input.remaining) bad(`records frame claims ${count} records`);
    const records = [];
    for (let i = 0; i < count; i++) records.push({ key: input.bytes(), value: input.bytes() });
    input.end();
    return { kind: "records", records };
  }
  if (kind === FRAME.trailer) {
    const total_records = input.varint();
    input.end();
    return { kind: "trailer", total_records };
  }
  return bad(`unknown frame kind ${kind}`);
}

function readHeader(input: ByteReader): SnapshotHeader {
  const format = input.varint();
  if (format !== DUMP_FORMAT) bad(`format ${format} (supported: ${DUMP_FORMAT})`);
  const kind = input.string();
  if (kind !== "dump") bad(`snapshot kind "${kind}" (supported: "dump")`);
  const header = {
    applied_index: input.varint(),
    applied_term: input.varint(),
    revision: input.varint(),
  };
  input.end();
  return header;
}

/**
 * Reads a frame stream written by {@link dumpFrames}: checks every frame, their order and
 * the trailer's count, and hands each records frame to `write` in order.
 *
 * @throws KvError(invalid_argument) for damaged or incomplete data.
 */
export async function readDump(
  frames: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  write: (records: { key: Uint8Array; value: Uint8Array }[]) => Promise<void>,
): Promise<SnapshotHeader> {
  let number = 0;
  let header: SnapshotHeader | undefined;
  let total = 0;
  let finished = false;
  for await (const bytes of frames) {
    if (finished) bad("frames after the trailer");
    const frame = decodeFrame(bytes, number++);
    if ((frame.kind === "header") !== (header === undefined)) {
      bad("the header must come first, once");
    }
    if (frame.kind === "header") header = frame.header;
    else if (frame.kind === "records") {
      total += frame.records.length;
      await write(frame.records);
    } else {
      if (frame.total_records !== total) {
        bad(`trailer counts ${frame.total_records} records, got ${total}`);
      }
      finished = true;
    }
  }
  if (!finished || header === undefined) {
    throw new KvError("invalid_argument", "snapshot data is incomplete: header or trailer missing");
  }
  return header;
}
