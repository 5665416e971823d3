/**
 * Validation and a compact binary codec for {@link KvRequest} (carried in Raft entries) and
 * {@link KvResponse} (kept in the de-duplication window).
 *
 * Request layout: `u8 format(1) | string member_id | varint sequence | body`; a body is a
 * tag byte then its fields in declaration order (bytes length-prefixed, numbers varints,
 * flags one byte). Nested transactions nest bodies.
 *
 * @module
 */
import { ByteReader, ByteWriter } from "./byte_codec.ts";
import {
  type Compare,
  type CompareOperator,
  type CompareTarget,
  type KeyValue,
  KvError,
  type KvErrorCode,
  type KvRequest,
  type KvResponse,
  MAX_LEASE_TTL_S,
  type OperationResponse,
  type RangeRequest,
  type RequestBody,
  type ResponseBody,
  type TxnOperation,
} from "./types.ts";

/** Size limits every request is checked against. */
export interface KvLimits {
  /** Largest key, in bytes (default 4 KiB). */
  max_key_bytes: number;
  /** Largest value, in bytes (default 1 MiB). */
  max_value_bytes: number;
  /** Most compares plus operations in one Txn, nested ones included (default 128). */
  max_txn_ops: number;
  /** Largest encoded request, in bytes (default 1.5 MiB). */
  max_request_bytes: number;
}

/** Default limits. */
export const DEFAULT_LIMITS: Readonly<KvLimits> = Object.freeze({
  max_key_bytes: 4 << 10,
  max_value_bytes: 1 << 20,
  max_txn_ops: 128,
  max_request_bytes: 1536 << 10,
});

/** Deepest nesting of transactions accepted (bounds recursion in decode and apply). */
export const MAX_TXN_DEPTH = 8;
/** Longest origin member id, in UTF-8 bytes. */
export const MAX_MEMBER_ID_BYTES = 256;

const FORMAT_VERSION = 1;
const TAGS = {
  range: 1,
  put: 2,
  delete_range: 3,
  txn: 4,
  lease_grant: 5,
  lease_revoke: 6,
  compact: 7,
  lease_revoke_response: 8,
  compact_response: 9,
  error: 10,
} as const;
const TARGETS: CompareTarget[] = ["value", "version", "create_revision", "mod_revision", "lease"];
const OPERATORS: CompareOperator[] = ["=", "!=", "<", ">"];
const ERROR_CODES: KvErrorCode[] = [
  "invalid_argument",
  "compacted",
  "future_revision",
  "lease_not_found",
  "lease_exists",
  "key_not_found",
  "duplicate_key",
  "too_old_to_deduplicate",
];

function invalid(message: string): never {
  throw new KvError("invalid_argument", message);
}

function checkBytes(value: unknown, what: string, max_bytes: number, allow_empty: boolean): void {
  if (!(value instanceof Uint8Array)) invalid(`${what} must be a Uint8Array, got ${typeof value}`);
  if (!allow_empty && value.length === 0) invalid(`${what} must not be empty`);
  if (value.length > max_bytes) {
    invalid(`${what} of ${value.length} bytes is longer than the limit (${max_bytes} bytes)`);
  }
}

function checkInteger(value: unknown, what: string, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    invalid(`${what} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

const MAX_ID = Number.MAX_SAFE_INTEGER;

function checkOptionalFlag(value: unknown, what: string): void {
  if (value !== undefined && typeof value !== "boolean") {
    invalid(`${what} must be a boolean when given, got ${typeof value}`);
  }
}

/** Counts compares and operations of a Txn tree, checking depth and per-op fields. */
class RequestChecker {
  ops = 0;
  constructor(readonly limits: KvLimits) {}

  key(value: unknown, what: string): void {
    checkBytes(value, what, this.limits.max_key_bytes, false);
  }

  rangeEnd(value: unknown, what: string): void {
    if (value !== undefined) checkBytes(value, what, this.limits.max_key_bytes, true);
  }

  operation(op: TxnOperation | RequestBody, depth: number): void {
    switch (op.type) {
      case "range":
        this.key(op.key, "range key");
        this.rangeEnd(op.range_end, "range_end");
        if (op.limit !== undefined) checkInteger(op.limit, "limit", 0, MAX_ID);
        if (op.revision !== undefined) checkInteger(op.revision, "revision", 0, MAX_ID);
        checkOptionalFlag(op.keys_only, "keys_only");
        checkOptionalFlag(op.count_only, "count_only");
        return;
      case "put":
        this.key(op.key, "put key");
        checkBytes(op.value, "value", this.limits.max_value_bytes, true);
        if (op.lease !== undefined) checkInteger(op.lease, "lease", 0, MAX_ID);
        checkOptionalFlag(op.prev_kv, "prev_kv");
        checkOptionalFlag(op.ignore_value, "ignore_value");
        checkOptionalFlag(op.ignore_lease, "ignore_lease");
        if (op.ignore_lease === true && (op.lease ?? 0) !== 0) {
          invalid("lease must be 0 when ignore_lease is set");
        }
        if (op.ignore_value === true && op.value.length !== 0) {
          invalid("value must be empty when ignore_value is set");
        }
        return;
      case "delete_range":
        this.key(op.key, "delete key");
        this.rangeEnd(op.range_end, "range_end");
        checkOptionalFlag(op.prev_kv, "prev_kv");
        return;
      case "txn":
        return this.txn(op, depth);
      case "lease_grant":
        checkInteger(op.id, "lease id", 0, MAX_ID);
        checkInteger(op.ttl_s, "ttl_s", 1, MAX_LEASE_TTL_S);
        return;
      case "lease_revoke":
        checkInteger(op.id, "lease id", 1, MAX_ID);
        return;
      case "compact":
        checkInteger(op.revision, "compact revision", 1, MAX_ID);
        return;
      default:
        invalid(`unknown request type ${JSON.stringify((op as { type: unknown }).type)}`);
    }
  }

  txn(op: { compare: Compare[]; success: TxnOperation[]; failure: TxnOperation[] }, depth: number) {
    if (depth > MAX_TXN_DEPTH) invalid(`txn nesting deeper than ${MAX_TXN_DEPTH} levels`);
    for (const list of [op.compare, op.success, op.failure]) {
      if (!Array.isArray(list)) invalid("txn compare, success and failure must be arrays");
      this.ops += list.length;
      if (this.ops > this.limits.max_txn_ops) {
        invalid(`txn has more than ${this.limits.max_txn_ops} compares and operations`);
      }
    }
    for (const compare of op.compare) this.compare(compare);
    for (const child of [...op.success, ...op.failure]) {
      if (!["range", "put", "delete_range", "txn"].includes(child?.type)) {
        invalid(`txn operation type must be range, put, delete_range or txn, got ${child?.type}`);
      }
      this.operation(child, depth + 1);
    }
  }

  compare(compare: Compare): void {
    this.key(compare.key, "compare key");
    this.rangeEnd(compare.range_end, "compare range_end");
    if (!TARGETS.includes(compare.target)) {
      invalid(`compare target must be one of ${TARGETS.join(", ")}, got ${compare.target}`);
    }
    if (!OPERATORS.includes(compare.operator)) {
      invalid(`compare operator must be one of ${OPERATORS.join(" ")}, got ${compare.operator}`);
    }
    if (compare.target === "value") {
      checkBytes(compare.operand, "compare value", this.limits.max_value_bytes, true);
    } else checkInteger(compare.operand, `compare ${compare.target}`, 0, MAX_ID);
  }
}

/**
 * Checks a request against the limits and etcd's rules.
 *
 * @throws KvError(invalid_argument) naming what was wrong and what is allowed.
 */
export function validateRequest(request: KvRequest, limits: KvLimits = DEFAULT_LIMITS): void {
  if (typeof request !== "object" || request === null) invalid("request must be an object");
  const origin = request.origin;
  if (typeof origin?.member_id !== "string" || origin.member_id.length === 0) {
    invalid("origin.member_id must be a non-empty string");
  }
  if (new TextEncoder().encode(origin.member_id).length > MAX_MEMBER_ID_BYTES) {
    invalid(`origin.member_id is longer than ${MAX_MEMBER_ID_BYTES} bytes`);
  }
  checkInteger(origin.sequence, "origin.sequence", 1, MAX_ID);
  if (typeof request.body !== "object" || request.body === null) invalid("body must be an object");
  if ((request.body as { type: string }).type === "range") {
    invalid("range is a read: call range() or put it inside a txn");
  }
  new RequestChecker(limits).operation(request.body, 0);
}

/**
 * Checks a range read against the limits.
 *
 * @throws KvError(invalid_argument) naming what was wrong and what is allowed.
 */
export function validateRange(request: RangeRequest, limits: KvLimits = DEFAULT_LIMITS): void {
  new RequestChecker(limits).operation(request, 0);
}

function writeBody(out: ByteWriter, op: RequestBody | TxnOperation): void {
  switch (op.type) {
    case "range":
      out.u8(TAGS.range).bytes(op.key).bytes(op.range_end ?? new Uint8Array(0));
      out.varint(op.limit ?? 0).varint(op.revision ?? 0);
      out.u8(op.keys_only ? 1 : 0).u8(op.count_only ? 1 : 0);
      return;
    case "put":
      out.u8(TAGS.put).bytes(op.key).bytes(op.value).varint(op.lease ?? 0);
      out.u8((op.prev_kv ? 1 : 0) | (op.ignore_value ? 2 : 0) | (op.ignore_lease ? 4 : 0));
      return;
    case "delete_range":
      out.u8(TAGS.delete_range).bytes(op.key).bytes(op.range_end ?? new Uint8Array(0));
      out.u8(op.prev_kv ? 1 : 0);
      return;
    case "txn":
      out.u8(TAGS.txn).varint(op.compare.length);
      for (const c of op.compare) {
        out.bytes(c.key).bytes(c.range_end ?? new Uint8Array(0));
        out.u8(TARGETS.indexOf(c.target)).u8(OPERATORS.indexOf(c.operator));
        if (c.target === "value") out.bytes(c.operand as Uint8Array);
        else out.varint(c.operand as number);
      }
      for (const branch of [op.success, op.failure]) {
        out.varint(branch.length);
        for (const child of branch) writeBody(out, child);
      }
      return;
    case "lease_grant":
      out.u8(TAGS.lease_grant).varint(op.id).varint(op.ttl_s);
      return;
    case "lease_revoke":
      out.u8(TAGS.lease_revoke).varint(op.id);
      return;
    case "compact":
      out.u8(TAGS.compact).varint(op.revision);
      return;
  }
}

function readBody(input: ByteReader, depth: number): RequestBody | TxnOperation {
  if (depth > MAX_TXN_DEPTH) input.fail(`txn nesting deeper than ${MAX_TXN_DEPTH}`);
  const tag = input.u8();
  switch (tag) {
    case TAGS.range: {
      const key = input.bytes();
      const range_end = input.bytes();
      const limit = input.varint();
      const revision = input.varint();
      return {
        type: "range",
        key,
        range_end,
        limit,
        revision,
        keys_only: input.bool(),
        count_only: input.bool(),
      };
    }
    case TAGS.put: {
      const key = input.bytes();
      const value = input.bytes();
      const lease = input.varint();
      const flags = input.u8();
      if (flags > 7) input.fail(`put flags ${flags} (allowed: 0 to 7)`);
      return {
        type: "put",
        key,
        value,
        lease,
        prev_kv: (flags & 1) !== 0,
        ignore_value: (flags & 2) !== 0,
        ignore_lease: (flags & 4) !== 0,
      };
    }
    case TAGS.delete_range:
      return {
        type: "delete_range",
        key: input.bytes(),
        range_end: input.bytes(),
        prev_kv: input.bool(),
      };
    case TAGS.txn:
      return readTxn(input, depth);
    case TAGS.lease_grant:
      return { type: "lease_grant", id: input.varint(), ttl_s: input.varint() };
    case TAGS.lease_revoke:
      return { type: "lease_revoke", id: input.varint() };
    case TAGS.compact:
      return { type: "compact", revision: input.varint() };
    default:
      return input.fail(`unknown request tag ${tag}`);
  }
}

function readCount(input: ByteReader, what: string): number {
  const count = input.varint();
  // Each element takes at least one byte: a larger count is corrupt, not a big allocation.
  if (count > input.remaining) input.fail(`${what} count ${count} exceeds the bytes left`);
  return count;
}

function readTxn(input: ByteReader, depth: number): TxnOperation {
  const compare: Compare[] = [];
  const compare_count = readCount(input, "compare");
  for (let i = 0; i < compare_count; i++) {
    const key = input.bytes();
    const range_end = input.bytes();
    const target = TARGETS[input.u8()] ?? input.fail("unknown compare target");
    const operator = OPERATORS[input.u8()] ?? input.fail("unknown compare operator");
    const operand = target === "value" ? input.bytes() : input.varint();
    compare.push({ key, range_end, target, operator, operand });
  }
  const branches: TxnOperation[][] = [[], []];
  for (const branch of branches) {
    const count = readCount(input, "operation");
    for (let i = 0; i < count; i++) branch.push(readBody(input, depth + 1) as TxnOperation);
  }
  return { type: "txn", compare, success: branches[0], failure: branches[1] };
}

/**
 * Encodes a request after validating it.
 *
 * @throws KvError(invalid_argument) for a bad request or one larger than max_request_bytes.
 */
export function encodeRequest(request: KvRequest, limits: KvLimits = DEFAULT_LIMITS): Uint8Array {
  validateRequest(request, limits);
  const out = new ByteWriter(256);
  out.u8(FORMAT_VERSION).string(request.origin.member_id).varint(request.origin.sequence);
  writeBody(out, request.body);
  if (out.length > limits.max_request_bytes) {
    invalid(
      `request of ${out.length} bytes is larger than max_request_bytes ` +
        `(${limits.max_request_bytes})`,
    );
  }
  // An exact-size copy: the entry may live long in Raft's log cache.
  return out.finish().slice();
}

/**
 * Decodes and validates a request written by {@link encodeRequest}.
 *
 * @throws KvError(invalid_argument) for malformed bytes or a request breaking the limits.
 */
export function decodeRequest(bytes: Uint8Array, limits: KvLimits = DEFAULT_LIMITS): KvRequest {
  if (bytes.length > limits.max_request_bytes) {
    invalid(
      `request of ${bytes.length} bytes is larger than max_request_bytes ` +
        `(${limits.max_request_bytes})`,
    );
  }
  const input = new ByteReader(bytes, "KV request");
  const format = input.u8();
  if (format !== FORMAT_VERSION) input.fail(`format ${format} (allowed: ${FORMAT_VERSION})`);
  const member_id = input.string();
  const sequence = input.varint();
  const body = readBody(input, 0) as RequestBody;
  input.end();
  const request = { origin: { member_id, sequence }, body };
  validateRequest(request, limits);
  return request;
}

function writeKv(out: ByteWriter, kv: KeyValue): void {
  out.bytes(kv.key).bytes(kv.value).varint(kv.create_revision).varint(kv.mod_revision);
  out.varint(kv.version).varint(kv.lease);
}

function readKv(input: ByteReader): KeyValue {
  return {
    key: input.bytes(),
    value: input.bytes(),
    create_revision: input.varint(),
    mod_revision: input.varint(),
    version: input.varint(),
    lease: input.varint(),
  };
}

function writeKvList(out: ByteWriter, kvs: KeyValue[]): void {
  out.varint(kvs.length);
  for (const kv of kvs) writeKv(out, kv);
}

function readKvList(input: ByteReader): KeyValue[] {
  const count = readCount(input, "key-value");
  const kvs: KeyValue[] = [];
  for (let i = 0; i < count; i++) kvs.push(readKv(input));
  return kvs;
}

function writeResponseBody(out: ByteWriter, body: ResponseBody | OperationResponse): void {
  switch (body.type) {
    case "range":
      out.u8(TAGS.range).varint(body.count).u8(body.more ? 1 : 0);
      return writeKvList(out, body.kvs);
    case "put":
      out.u8(TAGS.put);
      return writeKvList(out, body.prev_kv === undefined ? [] : [body.prev_kv]);
    case "delete_range":
      out.u8(TAGS.delete_range).varint(body.deleted);
      return writeKvList(out, body.prev_kvs);
    case "txn":
      out.u8(TAGS.txn).u8(body.succeeded ? 1 : 0).varint(body.responses.length);
      for (const child of body.responses) writeResponseBody(out, child);
      return;
    case "lease_grant":
      out.u8(TAGS.lease_grant).varint(body.id).varint(body.ttl_s);
      return;
    case "lease_revoke":
      out.u8(TAGS.lease_revoke_response);
      return;
    case "compact":
      out.u8(TAGS.compact_response);
      return;
    case "error":
      out.u8(TAGS.error).u8(ERROR_CODES.indexOf(body.code)).string(body.message);
      return;
  }
}

function readResponseBody(input: ByteReader, depth: number): ResponseBody | OperationResponse {
  if (depth > MAX_TXN_DEPTH) input.fail(`txn nesting deeper than ${MAX_TXN_DEPTH}`);
  const tag = input.u8();
  switch (tag) {
    case TAGS.range: {
      const count = input.varint();
      const more = input.bool();
      return { type: "range", count, more, kvs: readKvList(input) };
    }
    case TAGS.put: {
      const [prev_kv] = readKvList(input);
      return prev_kv === undefined ? { type: "put" } : { type: "put", prev_kv };
    }
    case TAGS.delete_range: {
      const deleted = input.varint();
      return { type: "delete_range", deleted, prev_kvs: readKvList(input) };
    }
    case TAGS.txn: {
      const succeeded = input.bool();
      const count = readCount(input, "response");
      const responses: OperationResponse[] = [];
      for (let i = 0; i < count; i++) {
        responses.push(readResponseBody(input, depth + 1) as OperationResponse);
      }
      return { type: "txn", succeeded, responses };
    }
    case TAGS.lease_grant:
      return { type: "lease_grant", id: input.varint(), ttl_s: input.varint() };
    case TAGS.lease_revoke_response:
      return { type: "lease_revoke" };
    case TAGS.compact_response:
      return { type: "compact" };
    case TAGS.error: {
      const code = ERROR_CODES[input.u8()] ?? input.fail("unknown error code");
      return { type: "error", code, message: input.string() };
    }
    default:
      return input.fail(`unknown response tag ${tag}`);
  }
}

/** Encodes a response (for the de-duplication window). */
export function encodeResponse(response: KvResponse): Uint8Array {
  const out = new ByteWriter(64);
  out.varint(response.revision);
  writeResponseBody(out, response.body);
  return out.finish();
}

/**
 * Decodes a response written by {@link encodeResponse}.
 *
 * @throws KvError(invalid_argument) for malformed bytes.
 */
export function decodeResponse(bytes: Uint8Array): KvResponse {
  const input = new ByteReader(bytes, "KV response");
  const revision = input.varint();
  const body = readResponseBody(input, 0) as ResponseBody;
  input.end();
  return { revision, body };
}
