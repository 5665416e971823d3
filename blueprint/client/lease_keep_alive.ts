/**
 * Keeps a lease alive: renews it every third of its TTL over a LeaseKeepAlive stream, and
 * moves to another endpoint when the stream fails. Stops when closed or when the server says
 * the lease is gone.
 *
 * @module
 */
import type { MethodSchema } from "../../shared/proto/mod.ts";
import type { RpcChannel } from "../../shared/rpc/mod.ts";
import { asRpcError } from "./client_error.ts";
import type { LeaseKeepAliveResponse } from "./types.ts";
import type { WatchHost } from "./watch_stream.ts";

/** The shortest renewal interval, in ms, whatever the TTL. */
export const MIN_RENEW_INTERVAL_MS = 200;

/**
 * A running keep-alive. `done` resolves with `"closed"` after {@link LeaseKeepAlive.close} or
 * `"expired"` when the server reports the lease gone.
 *
 * @example
 * ```ts
 * const { ID } = await client.leaseGrant(5);
 * const keep_alive = client.leaseKeepAlive(ID, 5);
 * // ... the lease lives while this runs ...
 * keep_alive.close();
 * ```
 */
export class LeaseKeepAlive {
  /** The lease. */
  readonly id: bigint;
  /** Renewals the server confirmed. */
  renewals = 0;
  /** The TTL the last renewal granted, in seconds. */
  last_ttl_s: bigint;
  /** Settles when the keep-alive stops: why it stopped. */
  readonly done: Promise<"closed" | "expired">;

  readonly #host: WatchHost;
  readonly #method: MethodSchema;
  readonly #interval_ms: number;
  #call: ReturnType<RpcChannel["bidiStream"]> | undefined;
  #endpoint = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #resolve_done!: (why: "closed" | "expired") => void;

  /**
   * Starts renewing; use {@link BlueprintClient.leaseKeepAlive}.
   *
   * @param host the client
   * @param method `Lease.LeaseKeepAlive`
   * @param id the lease
   * @param ttl_s the lease's TTL in seconds
   */
  constructor(host: WatchHost, method: MethodSchema, id: bigint, ttl_s: number) {
    if (!(ttl_s >= 1)) throw new RangeError(`ttl_s is ${ttl_s}; allowed: >= 1`);
    this.#host = host;
    this.#method = method;
    this.id = id;
    this.last_ttl_s = BigInt(Math.floor(ttl_s));
    this.#interval_ms = Math.max(MIN_RENEW_INTERVAL_MS, Math.floor((ttl_s * 1000) / 3));
    this.done = new Promise((resolve) => (this.#resolve_done = resolve));
    this.#renew();
    this.#timer = setInterval(() => this.#renew(), this.#interval_ms);
  }

  /** Stops renewing (the lease then expires after its TTL unless revoked). */
  close(): void {
    this.#stop("closed");
  }

  #renew(): void {
    if (this.#stopped) return;
    this.#call ??= this.#open();
    this.#call?.write({ ID: this.id });
  }

  #open(): ReturnType<RpcChannel["bidiStream"]> | undefined {
    const endpoint = this.#host.endpoint;
    let call: ReturnType<RpcChannel["bidiStream"]>;
    try {
      call = this.#host.channelTo(endpoint).bidiStream(this.#method);
    } catch {
      return undefined; // the client closed; the next tick stops us
    }
    this.#endpoint = endpoint;
    const onEnd = (error?: Error) => {
      if (this.#call !== call) return;
      this.#call = undefined; // the next tick opens a new stream, maybe elsewhere
      if (!this.#stopped) {
        const rpc_error = error ? asRpcError(error) : undefined;
        this.#host.noteFailure(this.#endpoint, rpc_error?.info.leader_address ?? "", true);
      }
    };
    call.on("data", (response: LeaseKeepAliveResponse) => {
      if (response.TTL <= 0n) {
        this.#stop("expired");
        return;
      }
      this.renewals++;
      this.last_ttl_s = response.TTL;
    });
    call.on("error", (error: Error) => onEnd(error));
    call.on("end", () => onEnd());
    return call;
  }

  #stop(why: "closed" | "expired"): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
    this.#resolve_done(why);
  }
}
