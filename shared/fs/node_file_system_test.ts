import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { FileNotFoundError, LockedError, NodeFileSystem } from "./mod.ts";

Deno.test("NodeFileSystem appends, reads at a position, truncates, renames and lists", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new NodeFileSystem();
    const file = fs.open(join(dir, "a"), "create");
    file.append(new Uint8Array([1, 2, 3]));
    file.append(new Uint8Array([4, 5]));
    await file.sync();
    strictEqual(file.size(), 5);
    const buf = new Uint8Array(3);
    strictEqual(file.readAt(buf, 2), 3);
    deepStrictEqual([...buf], [3, 4, 5]);
    strictEqual(file.readAt(buf, 5), 0);
    file.truncate(2);
    file.append(new Uint8Array([9]));
    file.close();
    throws(() => file.size(), /after close/);
    fs.rename(join(dir, "a"), join(dir, "b"));
    await fs.syncDir(dir);
    deepStrictEqual(fs.list(dir), ["b"]);
    deepStrictEqual([...fs.readFile(join(dir, "b"))], [1, 2, 9]);
    const reopened = fs.open(join(dir, "b"), "append");
    strictEqual(reopened.size(), 3);
    reopened.close();
    fs.remove(join(dir, "b"));
    fs.remove(join(dir, "missing"));
    strictEqual(fs.exists(join(dir, "b")), false);
    throws(() => fs.open(join(dir, "missing"), "read"), FileNotFoundError);
    throws(() => fs.readFile(join(dir, "missing")), FileNotFoundError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NodeFileSystem.lock refuses a second holder until released", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new NodeFileSystem();
    const lock = fs.lock(join(dir, "LOCK"));
    throws(() => fs.lock(join(dir, "LOCK")), LockedError);
    lock.release();
    fs.lock(join(dir, "LOCK")).release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
