/**
 * {@link FileSystem} on the real disk, through `node:fs` (which has positional reads) and
 * Deno's file locks.
 *
 * @module
 */
import fs from "node:fs";
import { dirname } from "node:path";
import {
  type FileHandle,
  type FileLock,
  FileNotFoundError,
  type FileSystem,
  LockedError,
  type OpenMode,
} from "./file_system.ts";

function rethrowMissing(path: string, err: unknown): never {
  if ((err as { code?: string }).code === "ENOENT") throw new FileNotFoundError(path);
  throw err;
}

class NodeFileHandle implements FileHandle {
  #fd: number | null;
  #size_bytes: number;

  constructor(readonly path: string, fd: number) {
    this.#fd = fd;
    this.#size_bytes = fs.fstatSync(fd).size;
  }

  #open_fd(): number {
    if (this.#fd === null) throw new Error(`${this.path}: file handle used after close`);
    return this.#fd;
  }

  readAt(buffer: Uint8Array, position: number): number {
    return fs.readSync(this.#open_fd(), buffer, 0, buffer.length, position);
  }

  append(data: Uint8Array): void {
    const fd = this.#open_fd();
    let written = 0;
    while (written < data.length) {
      written += fs.writeSync(fd, data, written, data.length - written, this.#size_bytes + written);
    }
    this.#size_bytes += data.length;
  }

  sync(): Promise<void> {
    const fd = this.#open_fd();
    return new Promise((resolve, reject) =>
      fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))
    );
  }

  size(): number {
    this.#open_fd();
    return this.#size_bytes;
  }

  truncate(length_bytes: number): void {
    fs.ftruncateSync(this.#open_fd(), length_bytes);
    this.#size_bytes = length_bytes;
  }

  close(): void {
    if (this.#fd === null) return;
    fs.closeSync(this.#fd);
    this.#fd = null;
  }
}

/** The real file system. */
export class NodeFileSystem implements FileSystem {
  open(path: string, mode: OpenMode): FileHandle {
    const flags = mode === "read" ? "r" : mode === "append" ? "r+" : "w+";
    try {
      return new NodeFileHandle(path, fs.openSync(path, flags));
    } catch (err) {
      rethrowMissing(path, err);
    }
  }

  readFile(path: string): Uint8Array {
    try {
      return new Uint8Array(fs.readFileSync(path));
    } catch (err) {
      rethrowMissing(path, err);
    }
  }

  rename(from: string, to: string): void {
    fs.renameSync(from, to);
  }

  remove(path: string): void {
    fs.rmSync(path, { force: true });
  }

  list(dir: string): string[] {
    return fs.readdirSync(dir).sort();
  }

  mkdir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
  }

  link(existing_path: string, new_path: string): void {
    try {
      fs.linkSync(existing_path, new_path);
    } catch (err) {
      rethrowMissing(existing_path, err);
    }
  }

  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  syncDir(dir: string): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.open(dir, "r", (err, fd) => {
        if (err) return reject(err);
        fs.fsync(fd, (syncErr) => fs.close(fd, () => (syncErr ? reject(syncErr) : resolve())));
      });
    });
  }

  lock(path: string): FileLock {
    fs.mkdirSync(dirname(path), { recursive: true });
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    if (!file.tryLockSync(true)) {
      file.close();
      throw new LockedError(path);
    }
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        file.unlockSync();
        file.close();
      },
    };
  }
}
