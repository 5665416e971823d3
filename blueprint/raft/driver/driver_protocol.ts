/**
 * Messages between a {@link RaftNodeHandle} (main isolate) and its Raft worker, carried one
 * per ring message. Numbers are f64 (every safe integer round-trips), strings are u16 length
 * + UTF-8, byte strings u32 length + bytes; the first byte is the tag.
 *
 * @module
 */
import type { ConfChangeType, Entry, EntryType, NodeId, Role, Snapshot } from "../core/mod.ts";

/** Main isolate → worker. */
export type DriverCommand =
  | { tag: CommandTag.Configure; config_json: string }
  | { tag: CommandTag.Propose; id: number; data: Uint8Array }
  | { tag: CommandTag.ProposeConfChange; id: number; change_type: ConfChangeType; node_id: NodeId }
  | { tag: CommandTag.ReadIndex; id: number }
  | { tag: CommandTag.TransferLeader; to: NodeId }
  | { tag: CommandTag.Status; id: number }
  | { tag: CommandTag.Stop }
  | { tag: CommandTag.SetPeer; node_id: NodeId; hostname: string; port: number }
  | { tag: CommandTag.Snapshot; id: number; index: number; data: Uint8Array };

/** Tags of {@link DriverCommand}. */
export enum CommandTag {
  /** First message: the worker's configuration as JSON. */
  Configure = 1,
  /** Propose one command. */
  Propose = 2,
  /** Propose a membership change. */
  ProposeConfChange = 3,
  /** Ask for a linearizable read index. */
  ReadIndex = 4,
  /** Ask the leader to hand over to `to`. */
  TransferLeader = 5,
  /** Ask for a status report. */
  Status = 6,
  /** Stop cleanly. */
  Stop = 7,
  /** Learn or change a peer's address. */
  SetPeer = 8,
  /** Store an application snapshot up to `index` and compact the log below it. */
  Snapshot = 9,
}

/** A linearizable read point for request `id`. */
export interface ReadPoint {
  /** Request id given to ReadIndex. */
  id: number;
  /** Commit index to wait for. */
  index: number;
}

/** Leader and role of the node, sent when they change. */
export interface LeaderInfo {
  /** Known leader, or null. */
  leader: NodeId | null;
  /** This node's role. */
  role: Role;
  /** Current term. */
  term: number;
}

/** Worker → main isolate. */
export type DriverEvent =
  | { tag: EventTag.Started; hostname: string; port: number }
  | { tag: EventTag.Failed; message: string }
  | { tag: EventTag.Accepted; first_index: number; term: number; ids: number[] }
  | { tag: EventTag.Rejected; reason: string; ids: number[] }
  | {
    tag: EventTag.Applied;
    leader?: LeaderInfo;
    reads: ReadPoint[];
    snapshot?: Snapshot;
    entries: Entry[];
  }
  | { tag: EventTag.Reply; id: number; ok: boolean; json: string }
  | { tag: EventTag.Stopped };

/** Tags of {@link DriverEvent}. */
export enum EventTag {
  /** The worker is up; the transport listens on this address. */
  Started = 1,
  /** The worker could not start or hit a fatal error (it exits after this). */
  Failed = 2,
  /** Proposals `ids` were appended at consecutive indices from `first_index` in `term`. */
  Accepted = 3,
  /** Proposals `ids` were refused (not leader, too many uncommitted, ...). */
  Rejected = 4,
  /**
   * One Ready's worth of output: leader change, read points, an installed snapshot (to be
   * applied before the entries), committed entries.
   */
  Applied = 5,
  /** Answer to Status or Snapshot (`json` holds the result or the error message). */
  Reply = 6,
  /** The worker stopped cleanly; nothing follows. */
  Stopped = 7,
}

const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder("utf-8", { fatal: true });

class Writer {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(capacity_bytes: number) {
    this.#buffer = new Uint8Array(Math.max(16, capacity_bytes));
    this.#view = new DataView(this.#buffer.buffer);
  }

  #reserve(bytes: number): number {
    const needed = this.#length + bytes;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
      this.#view = new DataView(grown.buffer);
    }
    const at = this.#length;
    this.#length = needed;
    return at;
  }

  u8(v: number): void {
    const at = this.#reserve(1);
    this.#buffer[at] = v;
  }
  u16(v: number): void {
    this.#view.setUint16(this.#reserve(2), v, true);
  }
  u32(v: number): void {
    this.#view.setUint32(this.#reserve(4), v, true);
  }
  f64(v: number): void {
    this.#view.setFloat64(this.#reserve(8), v, true);
  }
  str(s: string): void {
    const bytes = TEXT_ENCODER.encode(s);
    if (bytes.length > 0xffff) throw new RangeError(`string of ${bytes.length} bytes is too long`);
    this.u16(bytes.length);
    const at = this.#reserve(bytes.length); // may replace the buffer: reserve first
    this.#buffer.set(bytes, at);
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    const at = this.#reserve(b.length); // may replace the buffer: reserve first
    this.#buffer.set(b, at);
  }
  ids(ids: number[]): void {
    this.u32(ids.length);
    for (const id of ids) this.f64(id);
  }
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }
}

class Reader {
  #offset = 0;
  readonly #view: DataView;

  constructor(readonly data: Uint8Array) {
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  #take(bytes: number): number {
    if (this.#offset + bytes > this.data.length) {
      throw new RangeError(`driver message truncated at offset ${this.#offset}`);
    }
    const at = this.#offset;
    this.#offset += bytes;
    return at;
  }

  u8(): number {
    return this.data[this.#take(1)];
  }
  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }
  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }
  f64(): number {
    return this.#view.getFloat64(this.#take(8), true);
  }
  str(): string {
    const length = this.u16();
    const at = this.#take(length);
    return TEXT_DECODER.decode(this.data.subarray(at, at + length));
  }
  /** A view, not a copy: every ring message arrives in a buffer of its own. */
  bytes(): Uint8Array {
    const length = this.u32();
    const at = this.#take(length);
    return this.data.subarray(at, at + length);
  }
  ids(): number[] {
    const count = this.u32();
    if (count * 8 > this.data.length - this.#offset) throw new RangeError("id list truncated");
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(this.f64());
    return ids;
  }
}

/** Encodes a command. */
export function encodeCommand(command: DriverCommand): Uint8Array {
  const w = new Writer(command.tag === CommandTag.Propose ? command.data.length + 16 : 64);
  w.u8(command.tag);
  switch (command.tag) {
    case CommandTag.Configure:
      w.bytes(TEXT_ENCODER.encode(command.config_json));
      break;
    case CommandTag.Propose:
      w.f64(command.id);
      w.bytes(command.data);
      break;
    case CommandTag.ProposeConfChange:
      w.f64(command.id);
      w.u8(command.change_type);
      w.str(command.node_id);
      break;
    case CommandTag.ReadIndex:
    case CommandTag.Status:
      w.f64(command.id);
      break;
    case CommandTag.TransferLeader:
      w.str(command.to);
      break;
    case CommandTag.Stop:
      break;
    case CommandTag.SetPeer:
      w.str(command.node_id);
      w.str(command.hostname);
      w.u16(command.port);
      break;
    case CommandTag.Snapshot:
      w.f64(command.id);
      w.f64(command.index);
      w.bytes(command.data);
      break;
  }
  return w.finish();
}

/**
 * Decodes a command; throws RangeError on malformed bytes or an unknown tag. Byte fields are
 * views into `bytes`, which must not be reused afterwards.
 */
export function decodeCommand(bytes: Uint8Array): DriverCommand {
  const r = new Reader(bytes);
  const tag = r.u8();
  switch (tag) {
    case CommandTag.Configure:
      return { tag, config_json: TEXT_DECODER.decode(r.bytes()) };
    case CommandTag.Propose:
      return { tag, id: r.f64(), data: r.bytes() };
    case CommandTag.ProposeConfChange:
      return { tag, id: r.f64(), change_type: r.u8(), node_id: r.str() };
    case CommandTag.ReadIndex:
    case CommandTag.Status:
      return { tag, id: r.f64() };
    case CommandTag.TransferLeader:
      return { tag, to: r.str() };
    case CommandTag.Stop:
      return { tag };
    case CommandTag.SetPeer:
      return { tag, node_id: r.str(), hostname: r.str(), port: r.u16() };
    case CommandTag.Snapshot:
      return { tag, id: r.f64(), index: r.f64(), data: r.bytes() };
    default:
      throw new RangeError(`unknown driver command tag ${tag}; allowed 1..9`);
  }
}

/** Encodes an event. */
export function encodeEvent(event: DriverEvent): Uint8Array {
  let capacity = 64;
  if (event.tag === EventTag.Applied) {
    for (const e of event.entries) capacity += e.data.length + 24;
    capacity += event.snapshot ? event.snapshot.data.length + 256 : 0;
  } else if (event.tag === EventTag.Accepted || event.tag === EventTag.Rejected) {
    capacity += event.ids.length * 8;
  }
  const w = new Writer(capacity);
  w.u8(event.tag);
  switch (event.tag) {
    case EventTag.Started:
      w.str(event.hostname);
      w.u16(event.port);
      break;
    case EventTag.Failed:
      w.str(event.message.slice(0, 4000));
      break;
    case EventTag.Accepted:
      w.f64(event.first_index);
      w.f64(event.term);
      w.ids(event.ids);
      break;
    case EventTag.Rejected:
      w.str(event.reason.slice(0, 4000));
      w.ids(event.ids);
      break;
    case EventTag.Applied:
      writeApplied(w, event);
      break;
    case EventTag.Reply:
      w.f64(event.id);
      w.u8(event.ok ? 1 : 0);
      w.bytes(TEXT_ENCODER.encode(event.json));
      break;
    case EventTag.Stopped:
      break;
  }
  return w.finish();
}

function writeApplied(
  w: Writer,
  event: { leader?: LeaderInfo; reads: ReadPoint[]; snapshot?: Snapshot; entries: Entry[] },
): void {
  w.u8(event.leader ? 1 : 0);
  if (event.leader) {
    w.str(event.leader.leader ?? "");
    w.u8(event.leader.role);
    w.f64(event.leader.term);
  }
  w.u32(event.reads.length);
  for (const read of event.reads) {
    w.f64(read.id);
    w.f64(read.index);
  }
  w.u8(event.snapshot ? 1 : 0);
  if (event.snapshot) {
    const { meta, data } = event.snapshot;
    w.f64(meta.index);
    w.f64(meta.term);
    for (const group of [meta.conf_state.voters, meta.conf_state.learners]) {
      w.u32(group.length);
      for (const id of group) w.str(id);
    }
    w.bytes(data);
  }
  w.u32(event.entries.length);
  for (const entry of event.entries) {
    w.f64(entry.index);
    w.f64(entry.term);
    w.u8(entry.type);
    w.bytes(entry.data);
  }
}

/**
 * Decodes an event; throws RangeError on malformed bytes or an unknown tag. Byte fields are
 * views into `bytes`, which must not be reused afterwards.
 */
export function decodeEvent(bytes: Uint8Array): DriverEvent {
  const r = new Reader(bytes);
  const tag = r.u8();
  switch (tag) {
    case EventTag.Started:
      return { tag, hostname: r.str(), port: r.u16() };
    case EventTag.Failed:
      return { tag, message: r.str() };
    case EventTag.Accepted:
      return { tag, first_index: r.f64(), term: r.f64(), ids: r.ids() };
    case EventTag.Rejected:
      return { tag, reason: r.str(), ids: r.ids() };
    case EventTag.Applied:
      return { tag, ...readApplied(r) };
    case EventTag.Reply:
      return { tag, id: r.f64(), ok: r.u8() === 1, json: TEXT_DECODER.decode(r.bytes()) };
    case EventTag.Stopped:
      return { tag };
    default:
      throw new RangeError(`unknown driver event tag ${tag}; allowed 1..7`);
  }
}

function readApplied(
  r: Reader,
): { leader?: LeaderInfo; reads: ReadPoint[]; snapshot?: Snapshot; entries: Entry[] } {
  let leader: LeaderInfo | undefined;
  if (r.u8() === 1) {
    const id = r.str();
    leader = { leader: id === "" ? null : id, role: r.u8() as Role, term: r.f64() };
  }
  const reads: ReadPoint[] = [];
  const read_count = r.u32();
  for (let i = 0; i < read_count; i++) reads.push({ id: r.f64(), index: r.f64() });
  let snapshot: Snapshot | undefined;
  if (r.u8() === 1) {
    const index = r.f64();
    const term = r.f64();
    const groups: string[][] = [];
    for (let g = 0; g < 2; g++) {
      const count = r.u32();
      if (count > 65_536) throw new RangeError(`snapshot membership of ${count} is too large`);
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push(r.str());
      groups.push(ids);
    }
    const conf_state = { voters: groups[0], learners: groups[1] };
    snapshot = { meta: { index, term, conf_state }, data: r.bytes() };
  }
  const entries: Entry[] = [];
  const entry_count = r.u32();
  for (let i = 0; i < entry_count; i++) {
    entries.push({ index: r.f64(), term: r.f64(), type: r.u8() as EntryType, data: r.bytes() });
  }
  return {
    ...(leader ? { leader } : {}),
    reads,
    ...(snapshot ? { snapshot } : {}),
    entries,
  };
}
