import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { crc32c, crc32cUpdate, maskCrc, unmaskCrc } from "./crc32c.ts";

Deno.test("crc32c matches the standard check value and RFC 3720 vectors", () => {
  strictEqual(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  strictEqual(crc32c(new Uint8Array(32)), 0x8a9136aa);
  strictEqual(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  strictEqual(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  strictEqual(crc32c(new Uint8Array(0)), 0);
});

Deno.test("crc32cUpdate over pieces equals crc32c of the whole", () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 0xff);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    strictEqual(
      crc32cUpdate(crc32cUpdate(0, data.subarray(0, cut)), data.subarray(cut)),
      crc32c(data),
    );
  }
});

Deno.test("maskCrc round-trips and changes the value", () => {
  const values = [0, 1, 0xe3069283, 0xffffffff];
  deepStrictEqual(values.map((v) => unmaskCrc(maskCrc(v))), values);
  strictEqual(maskCrc(0xe3069283) === 0xe3069283, false);
});

Deno.test("crc32c gives the same value for aligned and unaligned views of the same bytes", () => {
  const backing = new Uint8Array(4096 + 8);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 17) & 0xff;
  for (const length of [0, 3, 8, 15, 64, 4096]) {
    const aligned = backing.subarray(4, 4 + length);
    const copy = new Uint8Array(backing.subarray(4, 4 + length));
    const unaligned = new Uint8Array(length + 1).subarray(1);
    unaligned.set(copy);
    strictEqual(crc32c(aligned), crc32c(unaligned), `length ${length}`);
    let bytewise = ~0;
    for (const byte of copy) {
      bytewise ^= byte;
      for (let k = 0; k < 8; k++) {
        bytewise = bytewise & 1 ? (bytewise >>> 1) ^ 0x82f63b78 : bytewise >>> 1;
      }
    }
    strictEqual(
      crc32c(aligned),
      ~bytewise >>> 0,
      `length ${length} against the bit-wise definition`,
    );
  }
});

Deno.test("crc32c agrees with the bit-wise definition at every length and alignment", () => {
  const backing = Uint8Array.from({ length: 400 }, (_, i) => (i * 197 + 89) & 0xff);
  const bitwise = (data: Uint8Array): number => {
    let crc = ~0;
    for (const byte of data) {
      crc ^= byte;
      for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
    return ~crc >>> 0;
  };
  for (let offset = 0; offset < 5; offset++) {
    for (let length = 0; length <= 300; length++) {
      const data = backing.subarray(offset, offset + length);
      strictEqual(crc32c(data), bitwise(data), `offset ${offset}, length ${length}`);
    }
  }
  // A running CRC carried across a split that leaves the second piece unaligned.
  const whole = backing.subarray(0, 333);
  strictEqual(crc32cUpdate(crc32c(whole.subarray(0, 101)), whole.subarray(101)), bitwise(whole));
});
