/**
 * gRPC statuses as errors: what a handler throws and what a client call rejects with.
 *
 * Every bad input becomes an {@link RpcError} whose message says what was wrong and what is
 * allowed; machine-readable details travel as trailing metadata (`draft-<key>`) and come back
 * as {@link RpcError.info}, so a client can, say, read the leader's address from an
 * UNAVAILABLE without parsing the message.
 *
 * @module
 */
import { grpc } from "../../deps.ts";

/** gRPC status codes (the numbers on the wire), e.g. `Status.INVALID_ARGUMENT` = 3. */
export const Status: typeof grpc.status = grpc.status;

/** A gRPC status code number. */
export type StatusCode = grpc.status;

/** The prefix of trailing-metadata keys that carry {@link RpcError.info}. */
export const DETAILS_METADATA_PREFIX = "draft-";

/** The most detail entries one error carries, and the longest value, in characters. */
export const MAX_DETAILS = 16;
const MAX_DETAIL_VALUE_LENGTH = 1024;

/** The longest status message sent, in characters; longer ones are cut with an ellipsis. */
export const MAX_STATUS_MESSAGE_LENGTH = 4096;

/**
 * A gRPC status other than OK, as an Error. grpc-js sends `code`, `details` (the message) and
 * `metadata` of a thrown or rejected error as the call's status.
 */
export class RpcError extends Error {
  /** The status code. */
  readonly code: StatusCode;
  /** The status message, as grpc-js names it (the same text as `message`). */
  readonly details: string;
  /** Machine-readable details, e.g. `{ leader_address: "10.0.0.2:2379" }`. */
  readonly info: Readonly<Record<string, string>>;
  /** Trailing metadata sent with the status (holds the details). */
  readonly metadata: grpc.Metadata;

  /**
   * Makes the error; prefer {@link rpcError} or the named helpers.
   *
   * @param code the gRPC status code
   * @param message what was wrong and what is allowed
   * @param details machine-readable facts, sent as `draft-<key>` trailing metadata
   */
  constructor(code: StatusCode, message: string, details: Record<string, string> = {}) {
    super(truncate(message, MAX_STATUS_MESSAGE_LENGTH));
    this.name = "RpcError";
    this.code = code;
    const entries = Object.entries(details);
    if (entries.length > MAX_DETAILS) {
      throw new RangeError(
        `an RpcError carries at most ${MAX_DETAILS} details, got ${entries.length}`,
      );
    }
    this.details = this.message;
    this.info = Object.freeze({ ...details });
    this.metadata = new grpc.Metadata();
    for (const [key, value] of entries) {
      if (!/^[a-z0-9_.-]+$/.test(key)) {
        throw new RangeError(`detail key ${JSON.stringify(key)}: allowed are a-z, 0-9, _ . -`);
      }
      this.metadata.set(DETAILS_METADATA_PREFIX + key, truncate(value, MAX_DETAIL_VALUE_LENGTH));
    }
  }

  /** The code's name, e.g. `INVALID_ARGUMENT`. */
  get codeName(): string {
    return statusName(this.code);
  }
}

/**
 * Makes an {@link RpcError}: throw it from a handler to answer with that status.
 *
 * @example
 * ```ts
 * throw rpcError(Status.INVALID_ARGUMENT, "key is empty; a key needs 1 to 1536 bytes");
 * ```
 */
export function rpcError(
  code: StatusCode,
  message: string,
  details?: Record<string, string>,
): RpcError {
  return new RpcError(code, message, details);
}

/**
 * INVALID_ARGUMENT: the request itself is wrong; retrying it unchanged cannot succeed.
 *
 * @example
 * ```ts
 * throw invalidArgument(`value is ${n} bytes; the limit is ${max}`);
 * ```
 */
export function invalidArgument(message: string, details?: Record<string, string>): RpcError {
  return new RpcError(Status.INVALID_ARGUMENT, message, details);
}

/**
 * RESOURCE_EXHAUSTED: a quota or size limit was hit.
 *
 * @example
 * ```ts
 * throw resourceExhausted("too many watchers on this stream (limit 1000)");
 * ```
 */
export function resourceExhausted(message: string, details?: Record<string, string>): RpcError {
  return new RpcError(Status.RESOURCE_EXHAUSTED, message, details);
}

/**
 * NOT_FOUND: the named thing does not exist.
 *
 * @example
 * ```ts
 * throw notFound(`lease ${id} not found`);
 * ```
 */
export function notFound(message: string, details?: Record<string, string>): RpcError {
  return new RpcError(Status.NOT_FOUND, message, details);
}

/**
 * FAILED_PRECONDITION: the system is not in a state where the call can run.
 *
 * @example
 * ```ts
 * throw failedPrecondition("revision 5 has been compacted; the oldest is 90");
 * ```
 */
export function failedPrecondition(message: string, details?: Record<string, string>): RpcError {
  return new RpcError(Status.FAILED_PRECONDITION, message, details);
}

/**
 * UNAVAILABLE: try again, possibly elsewhere (details may name where).
 *
 * @example
 * ```ts
 * throw unavailable("not the leader", { leader_address: "127.0.0.1:2222" });
 * ```
 */
export function unavailable(message: string, details?: Record<string, string>): RpcError {
  return new RpcError(Status.UNAVAILABLE, message, details);
}

/**
 * UNIMPLEMENTED: the method exists in the API but this server does not offer it.
 *
 * @example
 * ```ts
 * throw unimplemented("Maintenance.Defragment is not offered by Blueprint");
 * ```
 */
export function unimplemented(message: string, details?: Record<string, string>): RpcError {
  return new RpcError(Status.UNIMPLEMENTED, message, details);
}

/**
 * The status to answer for anything a handler threw: an {@link RpcError} as is, anything else
 * as INTERNAL with its message (the server's bug, not the caller's).
 *
 * @example
 * ```ts
 * callback(toRpcError(error));
 * ```
 */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === "number" && code > 0 && code <= 16 && error instanceof Error) {
    const text = (error as { details?: unknown }).details;
    return new RpcError(code, typeof text === "string" && text ? text : message);
  }
  return new RpcError(Status.INTERNAL, `internal error: ${message}`);
}

/**
 * Turns a grpc-js client-side error (a `ServiceError`) into an {@link RpcError}, recovering
 * the `draft-*` details from its trailing metadata.
 *
 * @example
 * ```ts
 * const error = fromServiceError(serviceError);
 * if (error.code === Status.UNAVAILABLE) retryAt(error.info.leader_address);
 * ```
 */
export function fromServiceError(error: grpc.ServiceError): RpcError {
  const details: Record<string, string> = {};
  const map = error.metadata?.getMap() ?? {};
  let count = 0;
  for (const [key, value] of Object.entries(map)) {
    if (!key.startsWith(DETAILS_METADATA_PREFIX) || typeof value !== "string") continue;
    if (++count > MAX_DETAILS) break;
    details[key.slice(DETAILS_METADATA_PREFIX.length)] = value;
  }
  return new RpcError(error.code ?? Status.UNKNOWN, error.details || error.message, details);
}

/**
 * The name of a status code, e.g. `statusName(3)` is `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * console.log(`${statusName(error.code)}: ${error.message}`);
 * ```
 */
export function statusName(code: number): string {
  return (Status as unknown as Record<number, string>)[code] ?? `STATUS_${code}`;
}

function truncate(text: string, max_length: number): string {
  return text.length <= max_length ? text : text.slice(0, max_length - 1) + "…";
}
