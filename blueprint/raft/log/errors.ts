/**
 * Errors of the durable Raft log.
 *
 * @module
 */

/**
 * Bytes on disk are not what the log wrote, somewhere a torn write cannot explain (a damaged
 * record followed by a valid one, a damaged snapshot, a gap in the indices). Never repaired
 * automatically: the node must be restored from a peer. The message names file and offset.
 */
export class RaftLogCorruptionError extends Error {
  /**
   * @param path the damaged file
   * @param offset byte offset in that file where the damage was found
   * @param detail what was wrong
   */
  constructor(readonly path: string, readonly offset: number, detail: string) {
    super(`${path} at offset ${offset}: ${detail}`);
    this.name = "RaftLogCorruptionError";
  }
}

/** The log was used wrongly (bad argument, use after close); the message says what is allowed. */
export class RaftLogUsageError extends Error {
  /** @param message what was wrong and what is allowed */
  constructor(message: string) {
    super(message);
    this.name = "RaftLogUsageError";
  }
}
