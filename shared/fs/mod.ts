/**
 * The file layer: the {@link FileSystem} contract, the real disk, and a fault-injecting
 * in-memory file system for crash tests.
 *
 * @module
 */
export * from "./file_system.ts";
export { NodeFileSystem } from "./node_file_system.ts";
export * from "./faulty_file_system.ts";
export { COPY_CHUNK_BYTES, copyFile, type LinkOrCopy, linkOrCopyFile } from "./link_or_copy.ts";
