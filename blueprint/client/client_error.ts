/**
 * The error every client call rejects with: what failed, at which endpoint, after how many
 * attempts, and whether a write may still have been applied.
 *
 * @module
 */
import { RpcError, Status, statusName } from "../../shared/rpc/mod.ts";

/** Why a call stopped trying: attempts used up, its deadline near, or an error not worth a retry. */
export type GaveUp = "attempts" | "deadline" | "not_retryable";

/**
 * A failed client call. `message` reads like
 * `Put at 127.0.0.1:2221 failed (UNAVAILABLE, attempt 4 of 4): etcdserver: no leader`, or for an
 * error that no retry can mend, `Put at 127.0.0.1:2221 failed (INVALID_ARGUMENT, not retried):
 * etcdserver: key is not provided`.
 */
export class ClientError extends Error {
  /** The gRPC status code of the last attempt. */
  readonly code: number;
  /** The endpoint the last attempt went to. */
  readonly endpoint: string;
  /** The method, e.g. `Put`. */
  readonly method: string;
  /** Attempts made. */
  readonly attempts: number;
  /** The leader address the server named, if any. */
  readonly leader_address: string;
  /** The last attempt's error. */
  override readonly cause: RpcError;

  /**
   * @param method the method name
   * @param endpoint where the last attempt went
   * @param attempts attempts made
   * @param max_attempts the bound on attempts
   * @param cause the last attempt's error
   * @param leader_address the leader the server named, or empty
   * @param gave_up why no further attempt was made (worded in the message)
   */
  constructor(
    method: string,
    endpoint: string,
    attempts: number,
    max_attempts: number,
    cause: RpcError,
    leader_address = "",
    gave_up: GaveUp = "attempts",
  ) {
    const where = leader_address ? `; leader is at ${leader_address}` : "";
    const tries = gave_up === "not_retryable" && attempts === 1
      ? "not retried"
      : `attempt ${attempts} of ${max_attempts}${
        gave_up === "deadline" ? ", deadline reached" : ""
      }`;
    super(
      `${method} at ${endpoint} failed (${
        statusName(cause.code)
      }, ${tries}): ${cause.message}${where}`,
    );
    this.name = "ClientError";
    this.code = cause.code;
    this.endpoint = endpoint;
    this.method = method;
    this.attempts = attempts;
    this.leader_address = leader_address;
    this.cause = cause;
  }

  /** The status code's name, e.g. `UNAVAILABLE`. */
  get codeName(): string {
    return statusName(this.code);
  }

  /**
   * Whether the server refused the request itself as invalid (INVALID_ARGUMENT or
   * OUT_OF_RANGE), so it was certainly not applied and repeating it cannot succeed.
   */
  get isInvalidRequest(): boolean {
    return this.code === Status.INVALID_ARGUMENT || this.code === Status.OUT_OF_RANGE;
  }
}

/** Whether `error` is an {@link RpcError} (as the channel rejects with). */
export function asRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RpcError(Status.UNKNOWN, message);
}
