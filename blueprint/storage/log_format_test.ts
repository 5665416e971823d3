import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { FaultyFileSystem, seededRng } from "../../shared/fs/mod.ts";
import { CorruptionError, StorageError } from "./errors.ts";
import {
  LOG_BLOCK_SIZE_BYTES,
  LOG_HEADER_SIZE_BYTES,
  LogWriter,
  MAX_LOG_RECORD_BYTES,
  parseLogRecords,
  readLogRecords,
} from "./log_format.ts";

const PATH = "/db/000001.log";

/** A record of `length` bytes whose contents depend on `seed`, so that records differ. */
function makeRecord(length: number, seed: number): Uint8Array {
  const rng = seededRng(seed);
  const record = new Uint8Array(length);
  for (let i = 0; i < length; i++) record[i] = Math.floor(rng() * 256);
  return record;
}

function writeLog(records: Uint8Array[]): { fs: FaultyFileSystem; data: Uint8Array } {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const file = fs.open(PATH, "create");
  const writer = new LogWriter(file);
  for (const record of records) writer.add(record);
  file.close();
  return { fs, data: fs.readFile(PATH) };
}

/** Record lengths that exercise every fragment type and the block trailer. */
function mixedRecords(): Uint8Array[] {
  const lengths = [
    0,
    1,
    100,
    LOG_BLOCK_SIZE_BYTES - 5 * LOG_HEADER_SIZE_BYTES - 101, // leaves exactly 7 bytes in block 0
    0, // a FULL record with an empty payload that fills the block exactly
    5,
    LOG_BLOCK_SIZE_BYTES - 2 * LOG_HEADER_SIZE_BYTES - 5 - 3, // leaves 3 bytes: padding
    70_000, // FIRST, MIDDLE, LAST
    0,
    33,
  ];
  return lengths.map((length, i) => makeRecord(length, i + 1));
}

function assertRecordsEqual(actual: Uint8Array[], expected: Uint8Array[], context: string) {
  strictEqual(actual.length, expected.length, `${context}: record count`);
  for (let i = 0; i < expected.length; i++) {
    ok(Buffer.compare(actual[i], expected[i]) === 0, `${context}: record ${i} differs`);
  }
}

/** Checks that `got` is an exact prefix of `expected`: never a wrong record. */
function assertPrefix(got: Uint8Array[], expected: Uint8Array[], context: string) {
  ok(got.length <= expected.length, `${context}: more records than written`);
  assertRecordsEqual(got, expected.slice(0, got.length), context);
}

Deno.test("log format round trip across block boundaries, empty and large records", () => {
  const records = mixedRecords();
  const { fs, data } = writeLog(records);
  const result = readLogRecords(fs, PATH);
  assertRecordsEqual(result.records, records, "round trip");
  strictEqual(result.torn_tail_offset, undefined);
  ok(data.length > 3 * LOG_BLOCK_SIZE_BYTES, "the test should span several blocks");
  // The layout the record sizes were chosen for: a block filled exactly, then 3 padding bytes.
  strictEqual(writeLog(records.slice(0, 5)).data.length, LOG_BLOCK_SIZE_BYTES);
  strictEqual(writeLog(records.slice(0, 7)).data.length, 2 * LOG_BLOCK_SIZE_BYTES - 3);
});

Deno.test("log format round trip of random record sizes (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 40_000 }), { maxLength: 12 }),
      fc.integer({ min: 0, max: LOG_BLOCK_SIZE_BYTES - 1 }),
      (lengths, preexisting_bytes) => {
        const fs = new FaultyFileSystem();
        fs.mkdir("/db");
        const file = fs.open(PATH, "create");
        // A writer on a file that already has bytes continues the block layout from there.
        const prefix = makeRecord(preexisting_bytes, 99);
        new LogWriter(file).add(prefix);
        const records = lengths.map((length, i) => makeRecord(length, i));
        const writer = new LogWriter(file);
        for (const record of records) writer.add(record);
        assertRecordsEqual(readLogRecords(fs, PATH).records, [prefix, ...records], "property");
      },
    ),
    { seed: 20261126, numRuns: 60 },
  );
});

Deno.test("log format drops a torn tail at every cut point of the last record", () => {
  const records = mixedRecords();
  const { data } = writeLog(records);
  const { data: without_last } = writeLog(records.slice(0, -1));
  const last_start = without_last.length;
  const without_last_two = writeLog(records.slice(0, -2)).data.length;
  for (let cut = last_start; cut < data.length; cut++) {
    const result = parseLogRecords(data.subarray(0, cut), PATH);
    assertRecordsEqual(result.records, records.slice(0, -1), `cut at ${cut}`);
    if (cut > last_start) strictEqual(result.torn_tail_offset, last_start, `cut at ${cut}`);
  }
  // The 70 000-byte record spans three blocks: cut it inside every fragment. It starts after
  // the 3 padding bytes that end block 1; a cut inside the padding is a clean end.
  const big_start = 2 * LOG_BLOCK_SIZE_BYTES;
  const big_end = writeLog(records.slice(0, 8)).data.length;
  for (let cut = big_start - 2; cut < big_end; cut += cut < big_start + 8 ? 1 : 997) {
    const result = parseLogRecords(data.subarray(0, cut), PATH);
    assertRecordsEqual(result.records, records.slice(0, 7), `cut at ${cut}`);
    const expected_torn = cut > big_start ? big_start : undefined;
    strictEqual(result.torn_tail_offset, expected_torn, `cut at ${cut}`);
  }
  ok(without_last_two < last_start);
});

Deno.test("log format: a torn tail of zeros (preallocated space) is dropped", () => {
  const records = [makeRecord(10, 1), makeRecord(20, 2)];
  const { data } = writeLog(records);
  const padded = new Uint8Array(data.length + 100);
  padded.set(data);
  const result = parseLogRecords(padded, PATH);
  assertRecordsEqual(result.records, records, "zero tail");
  strictEqual(result.torn_tail_offset, data.length);
});

Deno.test("log format: one flipped byte anywhere never yields a wrong record", () => {
  const records = mixedRecords();
  const { data } = writeLog(records);
  const last_start = writeLog(records.slice(0, -1)).data.length;
  const rng = seededRng(7);
  // Every byte of the small records and a sample of the big ones (all headers included).
  const offsets: number[] = [];
  for (let offset = 0; offset < data.length; offset++) {
    const near_boundary = offset % LOG_BLOCK_SIZE_BYTES < 64 ||
      offset % LOG_BLOCK_SIZE_BYTES > LOG_BLOCK_SIZE_BYTES - 64;
    if (near_boundary || offset >= last_start - 64 || rng() < 0.01) offsets.push(offset);
  }
  let corruptions = 0;
  let torn = 0;
  for (const offset of offsets) {
    const damaged = data.slice();
    damaged[offset] ^= 0xff;
    try {
      const result = parseLogRecords(damaged, PATH);
      assertPrefix(result.records, records, `flip at ${offset}`);
      if (result.records.length < records.length) {
        ok(offset >= last_start, `flip at ${offset} dropped records before the last one`);
        torn++;
      }
    } catch (err) {
      ok(err instanceof CorruptionError, `flip at ${offset}: ${err}`);
      ok(err.message.includes(PATH), `flip at ${offset}: message names the file`);
      corruptions++;
    }
  }
  ok(corruptions > 100 && torn > 10, `corruptions ${corruptions}, torn ${torn}`);
});

Deno.test("log format: damage followed by a valid record names the file and offset", () => {
  const records = [makeRecord(10, 1), makeRecord(20, 2), makeRecord(30, 3)];
  const { data } = writeLog(records);
  const damaged = data.slice();
  damaged[LOG_HEADER_SIZE_BYTES + 10 + 3] ^= 0x01; // CRC byte of the second record
  throws(
    () => parseLogRecords(damaged, PATH),
    (err: unknown) =>
      err instanceof CorruptionError && err.offset === LOG_HEADER_SIZE_BYTES + 10 &&
      err.message.includes(PATH),
  );
});

Deno.test("log format rejects records over the size limit", () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const writer = new LogWriter(fs.open(PATH, "create"));
  throws(() => writer.add(new Uint8Array(MAX_LOG_RECORD_BYTES + 1)), StorageError);
  deepStrictEqual(readLogRecords(fs, PATH), { records: [] });
});
