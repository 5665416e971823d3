/**
 * Which server a client talks to next: the configured endpoints in order, the leader once a
 * response names it, and the next one after a failure. A pure decision core: no sockets.
 *
 * @module
 */

/** The most endpoints a client keeps (configured plus learned from leader hints). */
export const MAX_ENDPOINTS = 32;

/**
 * Parses and validates a list of `host:port` endpoints; accepts a comma-separated string and
 * strips an `http://` or `https://` scheme (as etcd prints client URLs).
 *
 * @example
 * ```ts
 * parseEndpoints("127.0.0.1:2221,http://127.0.0.1:2222"); // ["127.0.0.1:2221", "127.0.0.1:2222"]
 * ```
 */
export function parseEndpoints(input: string | readonly string[]): string[] {
  const items = typeof input === "string" ? input.split(",") : [...input];
  const endpoints: string[] = [];
  for (const raw of items) {
    const endpoint = normalizeEndpoint(raw);
    if (!endpoints.includes(endpoint)) endpoints.push(endpoint);
  }
  if (endpoints.length === 0) {
    throw new RangeError("no endpoints given; need at least one host:port");
  }
  if (endpoints.length > MAX_ENDPOINTS) {
    throw new RangeError(`${endpoints.length} endpoints given; at most ${MAX_ENDPOINTS} allowed`);
  }
  return endpoints;
}

/**
 * One endpoint as `host:port`: trims, strips an http(s) scheme and a trailing slash, and checks
 * the port.
 *
 * @example
 * ```ts
 * normalizeEndpoint("http://127.0.0.1:2379/"); // "127.0.0.1:2379"
 * ```
 */
export function normalizeEndpoint(raw: string): string {
  const endpoint = raw.trim().replace(/^https?:\/\//, "").replace(/\/$/, "");
  const match = /^(.+):(\d{1,5})$/.exec(endpoint);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535 || /[\s/]/.test(match[1])) {
    throw new RangeError(
      `endpoint ${JSON.stringify(raw)} is not host:port (e.g. 127.0.0.1:2221, port 1-65535)`,
    );
  }
  return endpoint;
}

/**
 * The endpoints of one client and which one it prefers. Starts with the first; moves to the
 * leader when told where it is, and to the next endpoint in order after a failure.
 *
 * @example
 * ```ts
 * const list = new EndpointList(["a:1", "b:2", "c:3"]);
 * list.current; // "a:1"
 * list.noteLeader("c:3");
 * list.current; // "c:3"
 * list.noteFailure("c:3");
 * list.current; // "a:1"
 * ```
 */
export class EndpointList {
  readonly #endpoints: string[];
  #current_index = 0;

  /** @param endpoints validated `host:port` endpoints (see {@link parseEndpoints}) */
  constructor(endpoints: readonly string[]) {
    this.#endpoints = parseEndpoints(endpoints);
  }

  /** The endpoint the next call goes to. */
  get current(): string {
    return this.#endpoints[this.#current_index];
  }

  /** Every endpoint, configured ones first, then learned ones. */
  get all(): readonly string[] {
    return this.#endpoints;
  }

  /**
   * Prefers the leader's endpoint from now on. An unknown address is learned (up to
   * {@link MAX_ENDPOINTS}); an empty one (leader unknown) changes nothing.
   *
   * @param leader_address the leader's client address, `host:port`, or empty
   */
  noteLeader(leader_address: string): void {
    // Every response names the leader: the common case, already there, costs one compare.
    if (leader_address === "" || leader_address === this.current) return;
    let endpoint: string;
    try {
      endpoint = normalizeEndpoint(leader_address);
    } catch {
      return; // a malformed hint is ignored; the configured endpoints still work
    }
    let index = this.#endpoints.indexOf(endpoint);
    if (index < 0) {
      if (this.#endpoints.length >= MAX_ENDPOINTS) return;
      index = this.#endpoints.push(endpoint) - 1;
    }
    this.#current_index = index;
  }

  /**
   * Moves past `endpoint` after a failure there, unless the client already moved on (several
   * calls in flight fail together; only the first moves the list).
   *
   * @param endpoint the endpoint that failed
   */
  noteFailure(endpoint: string): void {
    if (this.current !== endpoint) return;
    this.#current_index = (this.#current_index + 1) % this.#endpoints.length;
  }
}
