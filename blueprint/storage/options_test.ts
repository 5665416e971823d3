import assert from "node:assert/strict";
import { FaultyFileSystem, NodeFileSystem } from "../../shared/fs/mod.ts";
import { DEFAULT_OPTIONS, resolveOptions } from "./options.ts";
import { StorageError } from "./errors.ts";

const real = () => new NodeFileSystem();

Deno.test("resolveOptions fills defaults and picks the background by file system", () => {
  const resolved = resolveOptions(undefined, real);
  assert.equal(resolved.memtable_size_bytes, DEFAULT_OPTIONS.memtable_size_bytes);
  assert.equal(resolved.background, "worker");
  assert.ok(resolved.fs instanceof NodeFileSystem);
  const custom = resolveOptions({ fs: new FaultyFileSystem(), block_cache_bytes: 0 }, real);
  assert.equal(custom.background, "inline");
  assert.equal(custom.block_cache_bytes, 0);
});

Deno.test("resolveOptions accepts block cache sizes up to 16 GiB", () => {
  const fs = new FaultyFileSystem();
  for (const size of [1, 64 << 20, 2 ** 31, 16 * 2 ** 30]) {
    assert.equal(resolveOptions({ fs, block_cache_bytes: size }, real).block_cache_bytes, size);
  }
  assert.throws(
    () => resolveOptions({ fs, block_cache_bytes: 16 * 2 ** 30 + 1 }, real),
    (e) =>
      e instanceof StorageError &&
      /block_cache_bytes must be an integer in \[0, 17179869184\]/.test(e.message),
  );
});

Deno.test("resolveOptions names the bad option and what is allowed", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ memtable_size_bytes: 12.5 }, /memtable_size_bytes must be an integer in \[1024, /],
    [{ max_value_bytes: 64 << 20 }, /max_value_bytes must be an integer in \[0, 33554432\]/],
    [{ cache: 1 }, /unknown storage option "cache"; allowed: fs, background, /],
    [{ background: "thread" }, /background must be "worker" or "inline"/],
    [{ fs: new FaultyFileSystem(), background: "worker" }, /needs the real disk/],
    [{ l0_slowdown_trigger: 2, l0_compaction_trigger: 4 }, /l0_compaction_trigger <= /],
    [{ compaction_nice: 20 }, /compaction_nice must be an integer in \[0, 19\], got 20/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => resolveOptions(options as never, real),
      (e) => e instanceof StorageError && message.test(e.message),
    );
  }
});
