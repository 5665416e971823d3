/**
 * Encodes Synchronize acks with the cluster details encoded once per change. Protocol
 * Buffers allow a message to be the concatenation of its fields' encodings, so an ack is
 * its few per-process fields (sequence, process id, changed, TTL) followed by the
 * `cluster` field's bytes, which every ack shares until the details change. The per-process
 * fields but the sequence stay the same from one ack of a stream to the next, so a stream keeps
 * them encoded too ({@link AckHeadCache}) and only the sequence is encoded per ack.
 *
 * @module
 */
import type { ClusterDetails } from "../../shared/proto/draft/mod.ts";

/** Encodes SyncAck messages (the Synchronize response codec). */
export interface AckCodec {
  /** Encodes a SyncAck given as a plain object. */
  encode(value: Record<string, unknown>): Uint8Array;
}

/** The per-process fields of an ack. */
export interface AckFields {
  /** The message's sequence, echoed. */
  readonly sequence: bigint;
  /** Whose ack it is. */
  readonly process_id: string;
  /** Whether the message changed the record (a Raft write). */
  readonly changed: boolean;
  /** The process's liveness TTL, in ms. */
  readonly ttl_ms: number;
}

/** The field number of `sequence` in SyncAck. */
const SEQUENCE_FIELD = 1;

/**
 * One stream's ack fields other than the sequence, as last encoded: a stream's acks reuse
 * the bytes while process id, `changed` and TTL stay the same.
 */
export class AckHeadCache {
  process_id = "";
  changed = false;
  ttl_ms = -1;
  bytes: Uint8Array = new Uint8Array(0);
}

/**
 * Ack bytes with a one-entry cache of the encoded cluster field.
 *
 * @example
 * ```ts
 * const acks = new AckEncoder(schema.service(REGISTRY_SERVICE) ... response_codec);
 * const bytes = acks.encode(fields, detailsKey, () => registry.clusterDetails());
 * call.write(bytes); // the server passes bytes through unchanged
 * ```
 */
export class AckEncoder {
  readonly #codec: AckCodec;
  #key: string | undefined;
  #cluster_field: Uint8Array = new Uint8Array(0);
  #encodings = 0;

  /**
   * Makes an encoder.
   *
   * @param codec the SyncAck codec
   */
  constructor(codec: AckCodec) {
    this.#codec = codec;
  }

  /** How many times the cluster details were encoded (once per distinct key). */
  get cluster_encodings(): number {
    return this.#encodings;
  }

  /**
   * The encoded ack. `details_key` must change whenever the details would: the details are
   * built and encoded only then.
   *
   * @param fields the per-process fields
   * @param details_key identifies the current cluster details
   * @param details builds the current cluster details
   * @param head the stream's cache of its other fields (none: encoded for this ack alone)
   */
  encode(
    fields: AckFields,
    details_key: string,
    details: () => ClusterDetails,
    head: AckHeadCache = new AckHeadCache(),
  ): Uint8Array {
    if (details_key !== this.#key) {
      this.#cluster_field = this.#codec.encode({ cluster: details() });
      this.#key = details_key;
      this.#encodings++;
    }
    if (
      head.process_id !== fields.process_id || head.changed !== fields.changed ||
      head.ttl_ms !== fields.ttl_ms
    ) {
      head.bytes = this.#codec.encode({
        process_id: fields.process_id,
        changed: fields.changed,
        ttl_ms: fields.ttl_ms,
      });
      head.process_id = fields.process_id;
      head.changed = fields.changed;
      head.ttl_ms = fields.ttl_ms;
    }
    const sequence = uint64Field(SEQUENCE_FIELD, fields.sequence);
    const bytes = new Uint8Array(
      sequence.length + head.bytes.length + this.#cluster_field.length,
    );
    bytes.set(sequence, 0);
    bytes.set(head.bytes, sequence.length);
    bytes.set(this.#cluster_field, sequence.length + head.bytes.length);
    return bytes;
  }
}

/** The encoding of a uint64 field: its tag (wire type 0), then the value as a varint. */
function uint64Field(field_number: number, value: bigint): Uint8Array {
  if (value < 0n || value >= 1n << 64n) throw new RangeError(`${value} is not a uint64`);
  const bytes = [field_number * 8];
  let rest = value;
  // Bounded: at most 10 turns for a 64-bit value.
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return Uint8Array.from(bytes);
}
