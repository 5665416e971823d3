import assert from "node:assert/strict";
import { findFile, mayContain, VersionSet } from "./version.ts";
import { emptyManifestState, type TableFileMeta } from "./manifest.ts";
import { encodeInternalKey, ValueType } from "./internal_key.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

function table(file_number: number, smallest: string, largest: string): TableFileMeta {
  return {
    file_number,
    size_bytes: 100,
    smallest_key: encodeInternalKey(bytes(smallest), 9, ValueType.Value),
    largest_key: encodeInternalKey(bytes(largest), 1, ValueType.Value),
  };
}

function levelsWith(...per_level: TableFileMeta[][]): TableFileMeta[][] {
  const levels = emptyManifestState().levels;
  per_level.forEach((files, i) => (levels[i] = files));
  return levels;
}

Deno.test("a table file becomes obsolete only when no live version references it", () => {
  const obsolete: number[] = [];
  const versions = new VersionSet(
    levelsWith([table(1, "a", "c"), table(2, "b", "d")]),
    (n) => obsolete.push(n),
  );
  const pinned = versions.current.ref();
  versions.install(levelsWith([table(2, "b", "d")], [table(3, "a", "c")]));
  assert.deepEqual(obsolete, [], "file 1 is still pinned by the old version");
  assert.equal(versions.liveVersionCount, 2);
  assert.ok(versions.isLive(1));
  pinned.unref();
  assert.deepEqual(obsolete, [1]);
  assert.equal(versions.liveVersionCount, 1);
  versions.install(levelsWith([], [table(4, "a", "d")]));
  assert.deepEqual(obsolete, [1, 2, 3]);
  assert.throws(() => pinned.unref(), /unref without a matching ref/);
  assert.throws(() => pinned.ref(), /dead version/);
});

Deno.test("version get searches level 0 newest first, then one file per level", () => {
  const versions = new VersionSet(
    levelsWith([table(5, "a", "m"), table(6, "k", "z")], [table(3, "a", "f"), table(4, "g", "p")]),
    () => {},
  );
  const asked: number[] = [];
  const hit = versions.current.get(bytes("l"), 100, (meta) => {
    asked.push(meta.file_number);
    return meta.file_number === 4
      ? { type: ValueType.Value, sequence: 1, value: bytes("deep") }
      : undefined;
  });
  assert.deepEqual(asked, [6, 5, 4]);
  assert.deepEqual(hit?.value, bytes("deep"));
  asked.length = 0;
  const found = versions.current.get(bytes("n"), 100, (meta) => {
    asked.push(meta.file_number);
    return { type: ValueType.Deletion, sequence: 2, value: new Uint8Array(0) };
  });
  assert.deepEqual(asked, [6]);
  assert.equal(found?.type, ValueType.Deletion);
});

Deno.test("findFile and mayContain locate keys in a sorted level", () => {
  const files = [table(1, "b", "d"), table(2, "f", "h")];
  assert.equal(findFile(files, bytes("a")), 0);
  assert.equal(findFile(files, bytes("e")), 1);
  assert.equal(findFile(files, bytes("h")), 1);
  assert.equal(findFile(files, bytes("i")), 2);
  assert.equal(mayContain(files[1], bytes("e")), false);
  assert.equal(mayContain(files[1], bytes("g")), true);
});
