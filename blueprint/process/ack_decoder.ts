/**
 * Decodes Synchronize acks, reusing the cluster details while their bytes stay the same.
 *
 * Every ack carries the cluster's members, leader and core services, and they change rarely
 * (a leader change, a member added); decoding them and mapping them to {@link ClusterDetails}
 * was about a tenth of a process's CPU per beat. The decoder finds the `cluster` field among
 * the ack's top-level fields (Protocol Buffers' wire format: a tag, then a varint, a length
 * and bytes, or 4 or 8 bytes) and compares its bytes with the last ones; only different bytes
 * are decoded. Anything it cannot walk is decoded in full, so a malformed ack still fails as
 * the codec says.
 *
 * @module
 */
import type { MessageCodec } from "../../shared/proto/mod.ts";
import type { ClusterDetails as WireClusterDetails } from "../../shared/proto/draft/mod.ts";
import type { ClusterDetails } from "./types.ts";
import { clusterFromWire } from "./wire_mapping.ts";

/** The field number of `cluster` in `draft.blueprint.v1.SyncAck`. */
export const SYNC_ACK_CLUSTER_FIELD = 4;

/** Protocol Buffers wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/**
 * The cluster details of acks, decoded once per distinct encoding.
 *
 * @example
 * ```ts
 * const acks = new AckDecoder(method.response_codec);
 * const cluster = acks.decode(bytes); // the same object while the details are unchanged
 * ```
 */
export class AckDecoder {
  readonly #codec: MessageCodec<{ cluster?: WireClusterDetails }>;
  #last_field: Uint8Array | undefined;
  #last_cluster: ClusterDetails | undefined;
  #full_decodes = 0;

  /**
   * Makes a decoder.
   *
   * @param codec the SyncAck codec (the Synchronize method's response codec)
   */
  constructor(codec: MessageCodec<{ cluster?: WireClusterDetails }>) {
    this.#codec = codec;
  }

  /** How many acks were decoded in full (a first ack, or changed details). */
  get full_decodes(): number {
    return this.#full_decodes;
  }

  /**
   * The cluster details of an encoded ack.
   *
   * @param bytes one SyncAck message
   * @throws ProtoDecodeError when the bytes are not a SyncAck
   */
  decode(bytes: Uint8Array): ClusterDetails {
    const field = clusterField(bytes);
    if (
      field !== undefined && this.#last_cluster !== undefined && sameBytes(field, this.#last_field)
    ) {
      return this.#last_cluster;
    }
    this.#full_decodes++;
    const cluster = clusterFromWire(this.#codec.decode(bytes).cluster);
    if (field !== undefined) {
      this.#last_field = field.slice();
      this.#last_cluster = cluster;
    }
    return cluster;
  }
}

/**
 * The bytes of the `cluster` field (tag included) among the message's top-level fields, or
 * undefined when there is none, more than one, or the bytes cannot be walked.
 */
function clusterField(bytes: Uint8Array): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const tag = readVarint(bytes, at);
    if (tag === undefined) return undefined;
    at = tag.next;
    switch (tag.value & 7) {
      case VARINT: {
        const value = readVarint(bytes, at);
        if (value === undefined) return undefined;
        at = value.next;
        break;
      }
      case FIXED64:
        at += 8;
        break;
      case FIXED32:
        at += 4;
        break;
      case LENGTH_DELIMITED: {
        const length = readVarint(bytes, at);
        if (length === undefined) return undefined;
        at = length.next + length.value;
        if (at > bytes.length) return undefined;
        if (tag.value >>> 3 === SYNC_ACK_CLUSTER_FIELD) {
          // Repeated message fields merge; only a single one is compared as it stands.
          if (found !== undefined) return undefined;
          found = bytes.subarray(start, at);
        }
        break;
      }
      default:
        return undefined; // groups are not used here; let the codec judge
    }
    if (at > bytes.length) return undefined;
  }
  return found;
}

/** A varint of at most 32 bits at `at`: its value and where the next field starts. */
function readVarint(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (at >= bytes.length) return undefined;
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: at };
  }
  // Longer varints (64-bit values) are skipped byte by byte; their value is never a length.
  while (at < bytes.length) {
    if ((bytes[at++] & 0x80) === 0) return { value: Number.MAX_SAFE_INTEGER, next: at };
  }
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
