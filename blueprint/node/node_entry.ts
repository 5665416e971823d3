/**
 * What a Raft entry carries for a Blueprint node, told apart by its first byte: nothing (the
 * new leader's no-op), a KV request (the KV codec's format byte, 1), or a node command
 * (membership metadata, {@link NODE_COMMAND_TAG}) as JSON.
 *
 * @module
 */

/** First byte of a node command entry; KV requests start with their format byte (1). */
export const NODE_COMMAND_TAG = 0xb1;

/** The replicated metadata of one member. */
export interface MemberRecord {
  /** Member name (Raft id). */
  id: string;
  /** Raft peer address, `host:port`. */
  raft_address: string;
  /** Client (gRPC) address, `host:port`; empty until the member publishes it. */
  client_address: string;
}

/** A replicated change to the member metadata. */
export type NodeCommand =
  | { type: "member_upsert"; member: MemberRecord }
  | { type: "member_remove"; id: string };

/** What an entry's data decoded to. */
export type DecodedEntry =
  | { kind: "noop" }
  | { kind: "kv"; data: Uint8Array }
  | { kind: "node"; command: NodeCommand };

const MAX_COMMAND_BYTES = 4096;

/**
 * Encodes a node command as entry data.
 *
 * @example
 * ```ts
 * encodeNodeCommand({ type: "member_remove", id: "n4" });
 * ```
 */
export function encodeNodeCommand(command: NodeCommand): Uint8Array {
  checkCommand(command);
  const json = new TextEncoder().encode(JSON.stringify(command));
  if (json.length > MAX_COMMAND_BYTES) {
    throw new RangeError(`node command of ${json.length} bytes; at most ${MAX_COMMAND_BYTES}`);
  }
  const out = new Uint8Array(json.length + 1);
  out[0] = NODE_COMMAND_TAG;
  out.set(json, 1);
  return out;
}

/**
 * Tells what an entry's data is. A malformed node command throws: entries are written by
 * this code only, so one that does not decode is corruption, not input.
 *
 * @example
 * ```ts
 * decodeEntryData(new Uint8Array(0)); // { kind: "noop" }
 * ```
 */
export function decodeEntryData(data: Uint8Array): DecodedEntry {
  if (data.length === 0) return { kind: "noop" };
  if (data[0] !== NODE_COMMAND_TAG) return { kind: "kv", data };
  const command = JSON.parse(new TextDecoder().decode(data.subarray(1))) as NodeCommand;
  checkCommand(command);
  return { kind: "node", command };
}

function checkCommand(command: NodeCommand): void {
  if (command?.type === "member_remove" && typeof command.id === "string" && command.id) return;
  if (command?.type === "member_upsert") {
    const member = command.member;
    if (
      typeof member?.id === "string" && member.id.length > 0 &&
      typeof member.raft_address === "string" && typeof member.client_address === "string"
    ) return;
  }
  throw new RangeError(`malformed node command: ${JSON.stringify(command)}`);
}
