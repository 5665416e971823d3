/**
 * Payloads of the log's records and the snapshot file body: entries, hard state, membership,
 * snapshot marks. Decoders throw RangeError on malformed bytes; the store turns that into a
 * corruption error naming the file.
 *
 * @module
 */
import type { ConfState, Entry, HardState, SnapshotMeta } from "../core/mod.ts";
import { EntryType } from "../core/mod.ts";
import { ByteReader, ByteWriter } from "./byte_codec.ts";

/** Bytes of an entry payload before its data. */
export const ENTRY_FIELDS_BYTES = 17;

/** Writes an entry payload (index, term, type, data) into `out` at `offset`. */
export function writeEntryPayload(out: Uint8Array, offset: number, entry: Entry): void {
  const view = new DataView(out.buffer, out.byteOffset + offset, ENTRY_FIELDS_BYTES);
  view.setUint32(0, entry.index % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(entry.index / 0x1_0000_0000), true);
  view.setUint32(8, entry.term % 0x1_0000_0000, true);
  view.setUint32(12, Math.floor(entry.term / 0x1_0000_0000), true);
  view.setUint8(16, entry.type);
  out.set(entry.data, offset + ENTRY_FIELDS_BYTES);
}

/** Decodes an entry payload; `data` is copied so it outlives the read buffer. */
export function decodeEntryPayload(payload: Uint8Array): Entry {
  const reader = new ByteReader(payload);
  const index = reader.u64();
  const term = reader.u64();
  const type = reader.u8();
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) {
    throw new RangeError(`unknown entry type ${type}`);
  }
  return { index, term, type, data: payload.slice(ENTRY_FIELDS_BYTES) };
}

/** Encodes a hard state. */
export function encodeHardState(state: HardState): Uint8Array {
  const writer = new ByteWriter(32);
  writer.u64(state.term);
  writer.u64(state.commit);
  writer.u8(state.vote === null ? 0 : 1);
  writer.shortString(state.vote ?? "");
  return writer.view().slice();
}

/** Decodes a hard state. */
export function decodeHardState(payload: Uint8Array): HardState {
  const reader = new ByteReader(payload);
  const term = reader.u64();
  const commit = reader.u64();
  const has_vote = reader.u8() === 1;
  const vote = reader.shortString();
  return { term, commit, vote: has_vote ? vote : null };
}

function writeConfState(writer: ByteWriter, conf: ConfState): void {
  for (const group of [conf.voters, conf.learners]) {
    if (group.length > 0xffff) throw new RangeError(`membership of ${group.length} is too large`);
    writer.u16(group.length);
    for (const id of group) writer.shortString(id);
  }
}

function readConfState(reader: ByteReader): ConfState {
  const groups: string[][] = [];
  for (let g = 0; g < 2; g++) {
    const count = reader.u16();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(reader.shortString());
    groups.push(ids);
  }
  return { voters: groups[0], learners: groups[1] };
}

/** Encodes a membership. */
export function encodeConfState(conf: ConfState): Uint8Array {
  const writer = new ByteWriter(64);
  writeConfState(writer, conf);
  return writer.view().slice();
}

/** Decodes a membership. */
export function decodeConfState(payload: Uint8Array): ConfState {
  return readConfState(new ByteReader(payload));
}

/** Encodes snapshot metadata (the snapshot mark record and the snapshot file header). */
export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  const writer = new ByteWriter(64);
  writer.u64(meta.index);
  writer.u64(meta.term);
  writeConfState(writer, meta.conf_state);
  return writer.view().slice();
}

/** Decodes snapshot metadata. */
export function decodeSnapshotMeta(payload: Uint8Array): SnapshotMeta {
  const reader = new ByteReader(payload);
  const index = reader.u64();
  const term = reader.u64();
  return { index, term, conf_state: readConfState(reader) };
}
