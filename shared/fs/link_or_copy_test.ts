import assert from "node:assert/strict";
import { join } from "node:path";
import {
  COPY_CHUNK_BYTES,
  FaultyFileSystem,
  FileNotFoundError,
  type FileSystem,
  linkOrCopyFile,
  NodeFileSystem,
  seededRng,
} from "./mod.ts";

function pattern(size_bytes: number): Uint8Array {
  return Uint8Array.from({ length: size_bytes }, (_, i) => (i * 31 + 7) & 0xff);
}

/** `fs` with its `link` replaced by one that throws an error with `code`. */
function withFailingLink(fs: FileSystem, code: string): FileSystem {
  const link = () => {
    throw Object.assign(new Error(`link refused: ${code}`), { code });
  };
  return new Proxy(fs, {
    get(target, property) {
      if (property === "link") return link;
      const member = Reflect.get(target, property);
      return typeof member === "function" ? member.bind(target) : member;
    },
  });
}

function write(fs: FileSystem, path: string, data: Uint8Array): void {
  const file = fs.open(path, "create");
  file.append(data);
  file.close();
}

Deno.test("linkOrCopyFile links on the real disk and the link outlives the source", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new NodeFileSystem();
    const data = pattern(5000);
    write(fs, join(dir, "a"), data);
    assert.equal(await linkOrCopyFile(fs, join(dir, "a"), join(dir, "b")), "link");
    assert.equal(Deno.statSync(join(dir, "b")).nlink, 2);
    fs.remove(join(dir, "a"));
    assert.deepEqual(fs.readFile(join(dir, "b")), data);
    await assert.rejects(
      linkOrCopyFile(fs, join(dir, "missing"), join(dir, "c")),
      FileNotFoundError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("linkOrCopyFile copies (synced) where the file system has no link", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/x");
  const data = pattern(COPY_CHUNK_BYTES * 2 + 123);
  write(fs, "/x/a", data);
  assert.equal(await linkOrCopyFile(fs, "/x/a", "/x/b"), "copy");
  await fs.syncDir("/x");
  fs.remove("/x/a");
  assert.deepEqual(fs.readFile("/x/b"), data);
  // The copy was synced: a crash keeps every byte.
  fs.crash(seededRng(1));
  assert.deepEqual(fs.readFile("/x/b"), data);
});

Deno.test("linkOrCopyFile falls back to a copy when linking is refused, not on other errors", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/x");
  write(fs, "/x/a", pattern(10));
  assert.equal(await linkOrCopyFile(withFailingLink(fs, "EXDEV"), "/x/a", "/x/b"), "copy");
  assert.deepEqual(fs.readFile("/x/b"), pattern(10));
  await assert.rejects(
    linkOrCopyFile(withFailingLink(fs, "EEXIST"), "/x/a", "/x/c"),
    /link refused: EEXIST/,
  );
  assert.equal(fs.exists("/x/c"), false);
});
