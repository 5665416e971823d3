/**
 * Size limits of requests and responses, and checks that turn a limit hit into an
 * INVALID_ARGUMENT that names the limit.
 *
 * The defaults follow etcd: a request may be 1.5 MiB, and gRPC's own receive limit sits 512 KiB
 * above that so that an oversized request reaches the application check (and its clear
 * message) instead of being cut by the transport.
 *
 * @module
 */
import { invalidArgument } from "./rpc_error.ts";

/** Default largest request a handler accepts, in bytes (etcd's `--max-request-bytes`). */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** Headroom between the request limit and gRPC's receive limit, in bytes (as etcd). */
export const RECEIVE_HEADROOM_BYTES = 512 * 1024;

/** Default largest message gRPC sends, in bytes (grpc-js's own default is unlimited). */
export const DEFAULT_MAX_SEND_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The highest request limit accepted when configuring a server, in bytes. */
export const MAX_CONFIGURABLE_REQUEST_BYTES = 64 * 1024 * 1024;

/**
 * Throws INVALID_ARGUMENT when `actual_bytes` exceeds `max_bytes`, naming what was too large.
 *
 * @param what what was measured, e.g. `"value"` or `"request to /etcdserverpb.KV/Put"`
 * @param actual_bytes its size
 * @param max_bytes the limit
 * @example
 * ```ts
 * checkSize("key", request.key.length, 1536);
 * ```
 */
export function checkSize(what: string, actual_bytes: number, max_bytes: number): void {
  if (actual_bytes > max_bytes) {
    throw invalidArgument(`${what} is ${actual_bytes} bytes; the limit is ${max_bytes} bytes`);
  }
}

/**
 * Throws INVALID_ARGUMENT when a list has more than `max_count` items.
 *
 * @param what what was counted, e.g. `"operations in the txn"`
 * @param actual_count how many there are
 * @param max_count the limit
 * @example
 * ```ts
 * checkCount("operations in the txn", request.success.length, 128);
 * ```
 */
export function checkCount(what: string, actual_count: number, max_count: number): void {
  if (actual_count > max_count) {
    throw invalidArgument(`${what}: ${actual_count} given; at most ${max_count} are allowed`);
  }
}

/**
 * Validates a configured byte limit: a positive integer not above `ceiling_bytes`.
 *
 * @param name the option's name, for the error message
 * @param value the configured value
 * @param ceiling_bytes the largest allowed value
 * @example
 * ```ts
 * const max = validateByteLimit("max_request_bytes", options.max_request_bytes, 64 << 20);
 * ```
 */
export function validateByteLimit(name: string, value: number, ceiling_bytes: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > ceiling_bytes) {
    throw new RangeError(`${name} is ${value}; allowed: an integer from 1 to ${ceiling_bytes}`);
  }
  return value;
}

/**
 * Validates a configured duration: an integer from 1 ms to `max_ms`.
 *
 * @param name the option's name, for the error message
 * @param value the configured value, in ms
 * @param max_ms the longest allowed
 * @example
 * ```ts
 * const keepalive_ms = validateDurationMs("keepalive_time_ms", 30_000, 24 * 60 * 60 * 1000);
 * ```
 */
export function validateDurationMs(name: string, value: number, max_ms: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max_ms) {
    throw new RangeError(`${name} is ${value}; allowed: an integer from 1 to ${max_ms} ms`);
  }
  return value;
}
