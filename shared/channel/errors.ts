/**
 * Errors a channel raises. Each one names what happened; none of them is a hang.
 *
 * @module
 */

/**
 * The channel can carry no more: the peer closed it and it is drained (for senders: this side
 * closed it), or the peer died (threw, exited or was terminated) and the ring was aborted.
 *
 * @example
 * ```ts
 * try { await channel.sender.send(bytes); }
 * catch (e) { if (e instanceof ChannelClosedError) restartWorker(); else throw e; }
 * ```
 */
export class ChannelClosedError extends Error {
  /**
   * Makes the error.
   *
   * @param message what closed and why
   */
  constructor(message: string) {
    super(message);
    this.name = "ChannelClosedError";
  }
}

/**
 * A `send`/`receive` with a `timeout_ms` ran out of time. The channel stays usable: a send that
 * timed out delivers nothing (the receiver discards any fragments of it it already holds).
 */
export class ChannelTimeoutError extends Error {
  /**
   * Makes the error.
   *
   * @param message which operation timed out and after how long
   */
  constructor(message: string) {
    super(message);
    this.name = "ChannelTimeoutError";
  }
}
