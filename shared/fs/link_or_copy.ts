/**
 * Hard links with a copy fallback: how a checkpoint shares immutable files with their source
 * without doubling the disk space, on file systems (and devices) where that is possible.
 *
 * @module
 */
import type { FileSystem } from "./file_system.ts";

/** Bytes read and appended per step of a copy: bounds the buffer a copy holds. */
export const COPY_CHUNK_BYTES = 1 << 20;

/** Link errors that mean "no link here", not "something is wrong": these fall back to a copy. */
const LINK_UNSUPPORTED_CODES = new Set(["EXDEV", "EPERM", "ENOTSUP", "EOPNOTSUPP", "EMLINK"]);

/** How {@link linkOrCopyFile} made the new name. */
export type LinkOrCopy = "link" | "copy";

/**
 * Copies `from` into a new file `to` in chunks of {@link COPY_CHUNK_BYTES} and syncs it. The
 * new directory entry is durable after `syncDir` of `to`'s directory.
 *
 * @returns the bytes copied
 * @example
 * ```ts
 * await copyFile(fs, "db/000007.sst", "checkpoint/000007.sst");
 * await fs.syncDir("checkpoint");
 * ```
 */
export async function copyFile(fs: FileSystem, from: string, to: string): Promise<number> {
  const source = fs.open(from, "read");
  try {
    const target = fs.open(to, "create");
    try {
      const buffer = new Uint8Array(COPY_CHUNK_BYTES);
      const size_bytes = source.size();
      // Bounded: each step copies a whole chunk or reaches the end.
      for (let position = 0; position < size_bytes;) {
        const read = source.readAt(buffer.subarray(0, size_bytes - position), position);
        if (read === 0) throw new Error(`copy ${from}: file ended at ${position} of ${size_bytes}`);
        target.append(buffer.subarray(0, read));
        position += read;
      }
      await target.sync();
      return size_bytes;
    } finally {
      target.close();
    }
  } finally {
    source.close();
  }
}

/**
 * Makes `to` a hard link of `from` where the file system can, and a synced copy where it
 * cannot (no `link` operation, another device, links not permitted). Either way `to` stays
 * valid after `from` is removed. Durable after `syncDir` of `to`'s directory.
 *
 * @throws FileNotFoundError when `from` is missing; the file system's error when `to` exists
 * @example
 * ```ts
 * const how = await linkOrCopyFile(fs, "db/000007.sst", "checkpoint/000007.sst"); // "link"
 * ```
 */
export async function linkOrCopyFile(
  fs: FileSystem,
  from: string,
  to: string,
): Promise<LinkOrCopy> {
  if (fs.link !== undefined) {
    try {
      fs.link(from, to);
      return "link";
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === undefined || !LINK_UNSUPPORTED_CODES.has(code)) throw err;
    }
  }
  await copyFile(fs, from, to);
  return "copy";
}
