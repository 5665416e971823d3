/**
 * The replicated member metadata (name, Raft address, client address of every member), kept
 * in the node's storage under its own key prefix so that state-machine snapshots carry it.
 *
 * @module
 */
import { type Storage, WriteBatch } from "../storage/mod.ts";
import type { MemberRecord, NodeCommand } from "./node_entry.ts";

/**
 * First byte of the member records' storage keys. The KV state machine uses lower-case ASCII
 * letters; this byte is outside that range.
 */
export const MEMBER_KEY_PREFIX = 0xf0;

/** Most members remembered (bounds the table and every scan of it). */
export const MAX_MEMBERS = 1000;

function memberKey(id: string): Uint8Array {
  const name = new TextEncoder().encode(id);
  const key = new Uint8Array(name.length + 1);
  key[0] = MEMBER_KEY_PREFIX;
  key.set(name, 1);
  return key;
}

/**
 * The member records in memory, mirrored in storage.
 *
 * @example
 * ```ts
 * const table = MemberTable.load(storage);
 * await table.apply(storage, { type: "member_upsert", member: { id: "n1", raft_address: "a:1", client_address: "a:2" } });
 * table.get("n1")?.client_address; // "a:2"
 * ```
 */
export class MemberTable {
  #members = new Map<string, MemberRecord>();

  /** Reads every record from `storage`. */
  static load(storage: Storage): MemberTable {
    const table = new MemberTable();
    table.reload(storage);
    return table;
  }

  /** Replaces the in-memory view with what `storage` holds (after a snapshot restore). */
  reload(storage: Storage): void {
    this.#members = new Map();
    const prefix = Uint8Array.of(MEMBER_KEY_PREFIX);
    for (const entry of storage.scan({ prefix, limit: MAX_MEMBERS })) {
      const record = JSON.parse(new TextDecoder().decode(entry.value)) as MemberRecord;
      this.#members.set(record.id, record);
    }
  }

  /** The record of `id`, if known. */
  get(id: string): MemberRecord | undefined {
    return this.#members.get(id);
  }

  /** Every record, sorted by name. */
  all(): MemberRecord[] {
    return [...this.#members.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  /** Applies a committed command to storage and memory; returns whether anything changed. */
  async apply(storage: Storage, command: NodeCommand): Promise<boolean> {
    if (command.type === "member_remove") {
      if (!this.#members.has(command.id)) return false;
      await storage.write(new WriteBatch().delete(memberKey(command.id)));
      this.#members.delete(command.id);
      return true;
    }
    const member = command.member;
    const current = this.#members.get(member.id);
    if (
      current?.raft_address === member.raft_address &&
      current.client_address === member.client_address
    ) return false;
    if (!current && this.#members.size >= MAX_MEMBERS) {
      throw new Error(`member table is full (${MAX_MEMBERS} members); remove members first`);
    }
    const value = new TextEncoder().encode(JSON.stringify(member));
    await storage.write(new WriteBatch().put(memberKey(member.id), value));
    this.#members.set(member.id, { ...member });
    return true;
  }
}
