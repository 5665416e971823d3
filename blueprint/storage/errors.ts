/**
 * Errors of the storage engine.
 *
 * {@link CorruptionError} means bytes on disk are not what the engine wrote (checksum or
 * format violation); {@link StorageError} is the base for usage errors (bad arguments, use
 * after close). Callers can tell "the disk lied" from "the caller erred" by class.
 *
 * @module
 */

/** Base class for usage errors of the storage engine (bad arguments, use after close, ...). */
export class StorageError extends Error {
  /** @param message what was wrong and what is allowed */
  constructor(message: string) {
    super(message);
    this.name = "StorageError";
  }
}

/**
 * Stored bytes fail a checksum or do not follow the format. Never retried: the file must be
 * repaired or restored. The message names the file and the byte offset.
 *
 * @example
 * ```ts
 * throw new CorruptionError("db/000007.sst", 4096, "block checksum mismatch");
 * // message: "db/000007.sst at offset 4096: block checksum mismatch"
 * ```
 */
export class CorruptionError extends Error {
  /**
   * @param path the damaged file
   * @param offset byte offset in that file where the damage was found
   * @param detail what was wrong
   */
  constructor(readonly path: string, readonly offset: number, detail: string) {
    super(`${path} at offset ${offset}: ${detail}`);
    this.name = "CorruptionError";
  }
}
