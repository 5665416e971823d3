/**
 * Translation between etcd's v3 messages (as the proto codec decodes them: 64-bit integers as
 * bigint) and the KV state machine's typed requests and responses, with the checks that must
 * happen before anything is proposed, and KV errors as etcd's gRPC errors.
 *
 * @module
 */
import { compareHoldsForAll } from "../kv/mod.ts";
import type {
  Compare as KvCompare,
  CompareOperator,
  CompareTarget,
  KeyValue as KvKeyValue,
  KvError,
  KvEvent,
  OperationResponse,
  RangeOptions,
  RangeResult,
  RequestBody,
  TxnOperation,
} from "../kv/mod.ts";
import { crc32cUpdate } from "../../shared/checksum/crc32c.ts";
import type {
  Compare,
  DeleteRangeRequest,
  Event,
  KeyValue,
  PutRequest,
  RangeRequest,
  RequestOp,
  ResponseOp,
  TxnRequest,
} from "../../shared/proto/mod.ts";
import { etcdError, invalidArgument, type RpcError, unavailable } from "../../shared/rpc/mod.ts";

/** Deepest Txn nesting accepted from clients (the KV codec's own bound). */
export const MAX_CLIENT_TXN_DEPTH = 8;

const OPERATORS: Record<number, CompareOperator> = { 0: "=", 1: ">", 2: "<", 3: "!=" };
const TARGETS: Record<number, CompareTarget> = {
  0: "version",
  1: "create_revision",
  2: "mod_revision",
  3: "value",
  4: "lease",
};

/**
 * A 64-bit field as a safe integer, or INVALID_ARGUMENT naming the field.
 *
 * @example
 * ```ts
 * toSafeNumber(5n, "lease"); // 5
 * ```
 */
export function toSafeNumber(value: bigint | number | undefined, field: string): number {
  const number = Number(value ?? 0);
  if (!Number.isSafeInteger(number) || number < 0) {
    throw invalidArgument(`${field} is ${value}; allowed: an integer from 0 to 2^53 - 1`);
  }
  return number;
}

function checkKey(key: Uint8Array | undefined): Uint8Array {
  if (!key || key.length === 0) throw etcdError("EmptyKey");
  return key;
}

function optionalEnd(range_end: Uint8Array | undefined): Uint8Array | undefined {
  return range_end && range_end.length > 0 ? range_end : undefined;
}

/** etcd's PutRequest as a KV put. */
export function putBody(request: PutRequest): RequestBody & { type: "put" } {
  return {
    type: "put",
    key: checkKey(request.key),
    value: request.value ?? new Uint8Array(0),
    lease: toSafeNumber(request.lease, "lease"),
    prev_kv: request.prev_kv === true,
    ignore_value: request.ignore_value === true,
    ignore_lease: request.ignore_lease === true,
  };
}

/** etcd's DeleteRangeRequest as a KV delete. */
export function deleteBody(request: DeleteRangeRequest): RequestBody & { type: "delete_range" } {
  return {
    type: "delete_range",
    key: checkKey(request.key),
    range_end: optionalEnd(request.range_end),
    prev_kv: request.prev_kv === true,
  };
}

/** etcd's RangeRequest as a KV range (for use inside a Txn). */
export function rangeBody(request: RangeRequest): TxnOperation & { type: "range" } {
  return {
    type: "range",
    key: checkKey(request.key),
    range_end: optionalEnd(request.range_end),
    limit: toSafeNumber(request.limit, "limit"),
    revision: Math.max(0, Number(request.revision ?? 0)),
    keys_only: request.keys_only === true,
    count_only: request.count_only === true,
  };
}

/**
 * etcd's TxnRequest as a KV txn, counting operations against `max_txn_ops` (compares and
 * operations of every nesting level) before anything is proposed.
 */
export function txnBody(
  request: TxnRequest,
  max_txn_ops: number,
): RequestBody & { type: "txn" } {
  const counter = { ops: 0 };
  return convertTxn(request, max_txn_ops, counter, 0);
}

function convertTxn(
  request: TxnRequest,
  max_txn_ops: number,
  counter: { ops: number },
  depth: number,
): RequestBody & { type: "txn" } {
  if (depth > MAX_CLIENT_TXN_DEPTH) {
    throw invalidArgument(`txn nesting is deeper than ${MAX_CLIENT_TXN_DEPTH} levels`);
  }
  const compare = request.compare ?? [];
  const success = request.success ?? [];
  const failure = request.failure ?? [];
  counter.ops += compare.length + success.length + failure.length;
  if (counter.ops > max_txn_ops) {
    throw etcdError(
      "TooManyOps",
      `more than ${max_txn_ops} compares and operations; at most ${max_txn_ops} are allowed`,
    );
  }
  const operation = (op: RequestOp): TxnOperation => {
    switch (op.request) {
      case "request_range":
        return rangeBody(op.request_range!);
      case "request_put":
        return putBody(op.request_put!);
      case "request_delete_range":
        return deleteBody(op.request_delete_range!);
      case "request_txn":
        return convertTxn(op.request_txn!, max_txn_ops, counter, depth + 1);
      default:
        throw invalidArgument("a txn operation sets none of range, put, delete_range, txn");
    }
  };
  return {
    type: "txn",
    compare: compare.map(compareOf),
    success: success.map(operation),
    failure: failure.map(operation),
  };
}

function compareOf(compare: Compare): KvCompare {
  const operator = OPERATORS[compare.result];
  const target = TARGETS[compare.target];
  if (!operator) {
    throw invalidArgument(`compare result ${compare.result}; allowed: 0 to 3 (EQUAL..NOT_EQUAL)`);
  }
  if (!target) throw invalidArgument(`compare target ${compare.target}; allowed: 0 to 4`);
  let operand: Uint8Array | number;
  switch (target) {
    case "value":
      operand = compare.value ?? new Uint8Array(0);
      break;
    case "version":
      operand = toSafeNumber(compare.version, "compare version");
      break;
    case "create_revision":
      operand = toSafeNumber(compare.create_revision, "compare create_revision");
      break;
    case "mod_revision":
      operand = toSafeNumber(compare.mod_revision, "compare mod_revision");
      break;
    case "lease":
      operand = toSafeNumber(compare.lease, "compare lease");
      break;
  }
  return {
    key: checkKey(compare.key),
    range_end: optionalEnd(compare.range_end),
    target,
    operator,
    operand,
  };
}

/** A KV key-value as etcd's mvccpb.KeyValue. */
export function keyValueOf(kv: KvKeyValue): KeyValue {
  return {
    key: kv.key,
    value: kv.value,
    create_revision: BigInt(kv.create_revision),
    mod_revision: BigInt(kv.mod_revision),
    version: BigInt(kv.version),
    lease: BigInt(kv.lease),
  };
}

/** A KV event as etcd's mvccpb.Event (prev_kv added by the caller when asked). */
export function eventOf(event: KvEvent): Event {
  return { type: event.type === "put" ? 0 : 1, kv: keyValueOf(event.kv) };
}

/** A KV operation response as etcd's ResponseOp (headers are added by the caller). */
export function responseOpOf(
  response: OperationResponse,
  header: unknown,
): ResponseOp {
  switch (response.type) {
    case "range":
      return {
        response: "response_range",
        response_range: {
          header: header as never,
          kvs: response.kvs.map(keyValueOf),
          more: response.more,
          count: BigInt(response.count),
        },
      };
    case "put":
      return {
        response: "response_put",
        response_put: {
          header: header as never,
          prev_kv: response.prev_kv ? keyValueOf(response.prev_kv) : undefined,
        },
      };
    case "delete_range":
      return {
        response: "response_delete_range",
        response_delete_range: {
          header: header as never,
          deleted: BigInt(response.deleted),
          prev_kvs: response.prev_kvs.map(keyValueOf),
        },
      };
    case "txn":
      return {
        response: "response_txn",
        response_txn: {
          header: header as never,
          succeeded: response.succeeded,
          responses: response.responses.map((r) => responseOpOf(r, header)),
        },
      };
  }
}

/**
 * A KV error as etcd's gRPC error: etcd's exact text where clients branch on it, otherwise
 * INVALID_ARGUMENT (or UNAVAILABLE) with the KV layer's explanation.
 */
export function rpcErrorOfKv(error: Pick<KvError, "code" | "message">): RpcError {
  switch (error.code) {
    case "compacted":
      return etcdError("Compacted");
    case "future_revision":
      return etcdError("FutureRev");
    case "lease_not_found":
      return etcdError("LeaseNotFound");
    case "lease_exists":
      return etcdError("LeaseExist");
    case "key_not_found":
      return etcdError("KeyNotFound");
    case "duplicate_key":
      return etcdError("DuplicateKey");
    case "too_old_to_deduplicate":
      return unavailable(`${error.message}; retry as a new request`);
    default:
      if (/request of \d+ bytes is larger/.test(error.message)) {
        return etcdError("RequestTooLarge", error.message);
      }
      if (/txn has more than/.test(error.message)) return etcdError("TooManyOps", error.message);
      return invalidArgument(error.message);
  }
}

// ---- read-only transactions ---------------------------------------------------------------

/**
 * Whether a TxnRequest only reads: its branches hold ranges (or nested transactions that only
 * read) and nothing else. Such a txn changes nothing, so it is served like a Range instead of
 * going through Raft. Deeper nesting than {@link MAX_CLIENT_TXN_DEPTH} counts as a write, so
 * that the conversion's own check refuses it.
 *
 * @example
 * ```ts
 * isReadOnlyTxn({ compare: [], success: [{ request: "request_range", request_range: { key } }], failure: [] }); // true
 * ```
 */
export function isReadOnlyTxn(request: TxnRequest, depth = 0): boolean {
  if (depth > MAX_CLIENT_TXN_DEPTH) return false;
  const ops = [...(request.success ?? []), ...(request.failure ?? [])];
  return ops.every((op) =>
    op.request === "request_range" ||
    (op.request === "request_txn" && isReadOnlyTxn(op.request_txn!, depth + 1))
  );
}

/**
 * Whether a read-only TxnRequest may be served from this member's state without ReadIndex:
 * as etcd, when every range in it asks for a serializable read. A txn without any range (only
 * compares) is linearizable, the safe default.
 */
export function isSerializableTxn(request: TxnRequest): boolean {
  const ranges: RangeRequest[] = [];
  collectRanges(request, ranges, 0);
  return ranges.length > 0 && ranges.every((range) => range.serializable === true);
}

function collectRanges(request: TxnRequest, into: RangeRequest[], depth: number): void {
  if (depth > MAX_CLIENT_TXN_DEPTH) return;
  for (const op of [...(request.success ?? []), ...(request.failure ?? [])]) {
    if (op.request === "request_range") into.push(op.request_range!);
    if (op.request === "request_txn") collectRanges(op.request_txn!, into, depth + 1);
  }
}

/** The reads a read-only txn needs: the state machine's `range`. */
export interface RangeReader {
  /** etcd range semantics at the current (0) or a past revision; throws KvError. */
  range(key: Uint8Array, range_end: Uint8Array | undefined, options: RangeOptions): RangeResult;
}

/**
 * Evaluates a read-only txn against `reader` with the state machine's semantics (a missing
 * key fails value compares and compares as zero on the others; a range compare must hold for
 * every key). Call it synchronously after one apply and before the next, so that every read
 * sees the same revision.
 *
 * @throws KvError when a range cannot be read (compacted or future revision)
 */
export function evaluateReadOnlyTxn(
  txn: RequestBody & { type: "txn" },
  reader: RangeReader,
): OperationResponse & { type: "txn" } {
  const succeeded = txn.compare.every((compare) => compareHolds(compare, reader));
  const branch = succeeded ? txn.success : txn.failure;
  const responses = branch.map((op): OperationResponse => {
    switch (op.type) {
      case "range": {
        const { type: _type, key, range_end, ...options } = op;
        const result = reader.range(key, range_end, options);
        return { type: "range", kvs: result.kvs, more: result.more, count: result.count };
      }
      case "txn":
        return evaluateReadOnlyTxn(op, reader);
      default:
        throw new Error(`invariant: a read-only txn holds a ${op.type}`);
    }
  });
  return { type: "txn", succeeded, responses };
}

function compareHolds(compare: KvCompare, reader: RangeReader): boolean {
  return compareHoldsForAll(compare, reader.range(compare.key, compare.range_end, {}).kvs);
}

// ---- hashes --------------------------------------------------------------------------------

/**
 * A CRC-32C over key-value pairs in the order given (key order, from a range): each pair
 * contributes its key and value with their lengths, then create revision, mod revision,
 * version and lease as 8-byte big-endian numbers. Two members that hold the same pairs at a
 * revision produce the same hash.
 *
 * @example
 * ```ts
 * const hasher = new KeyValueHasher();
 * hasher.add(kv);
 * hasher.hash; // unsigned 32-bit
 * ```
 */
export class KeyValueHasher {
  #crc = 0;
  #count = 0;
  readonly #fields = new Uint8Array(40);
  readonly #view = new DataView(this.#fields.buffer);

  /** The hash of every pair added so far. */
  get hash(): number {
    return this.#crc;
  }

  /** How many pairs were added. */
  get count(): number {
    return this.#count;
  }

  /** Adds one pair. */
  add(kv: KvKeyValue): void {
    const view = this.#view;
    view.setUint32(0, kv.key.length);
    view.setUint32(4, kv.value.length);
    const numbers = [kv.create_revision, kv.mod_revision, kv.version, kv.lease];
    numbers.forEach((number, i) => view.setBigUint64(8 + 8 * i, BigInt(number)));
    this.#crc = crc32cUpdate(this.#crc, this.#fields.subarray(0, 4));
    this.#crc = crc32cUpdate(this.#crc, kv.key);
    this.#crc = crc32cUpdate(this.#crc, this.#fields.subarray(4));
    this.#crc = crc32cUpdate(this.#crc, kv.value);
    this.#count++;
  }
}
