/**
 * Encodes Synchronize acks with the cluster details encoded once per change. Protocol
 * Buffers allow a message to be the concatenation of its fields' encodings, so an ack is
 * its few per-process fields (sequence, process id, changed, TTL) followed by the
 * `cluster` field's bytes, which every ack shares until the details change.
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
   */
  encode(fields: AckFields, details_key: string, details: () => ClusterDetails): Uint8Array {
    if (details_key !== this.#key) {
      this.#cluster_field = this.#codec.encode({ cluster: details() });
      this.#key = details_key;
      this.#encodings++;
    }
    const head = this.#codec.encode({
      sequence: fields.sequence,
      process_id: fields.process_id,
      changed: fields.changed,
      ttl_ms: fields.ttl_ms,
    });
    const bytes = new Uint8Array(head.length + this.#cluster_field.length);
    bytes.set(head, 0);
    bytes.set(this.#cluster_field, head.length);
    return bytes;
  }
}
