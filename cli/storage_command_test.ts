import { match, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { Storage } from "../blueprint/storage/mod.ts";

const MOD_TS = new URL("../mod.ts", import.meta.url).pathname;

async function draft(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD_TS, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

Deno.test("draft storage puts, gets, scans and reports errors", async (t) => {
  const dir = await Deno.makeTempDir();
  const data = join(dir, "db");
  try {
    await t.step("put then get returns the value", async () => {
      strictEqual((await draft("storage", "put", "--data", data, "alpha", "one")).code, 0);
      strictEqual((await draft("storage", "put", "--data", data, "beta", "two")).code, 0);
      const got = await draft("storage", "get", "--data", data, "alpha");
      strictEqual(got.code, 0);
      strictEqual(got.stdout, "one\n");
    });
    await t.step("scan --json prints one object per line in key order", async () => {
      const scanned = await draft("storage", "scan", "--data", data, "--json", "--reverse");
      strictEqual(scanned.code, 0);
      const lines = scanned.stdout.trim().split("\n").map((line) => JSON.parse(line));
      strictEqual(
        JSON.stringify(lines),
        JSON.stringify([{ key: "beta", value: "two" }, { key: "alpha", value: "one" }]),
      );
    });
    await t.step("hex keys round-trip and bad hex is a usage error", async () => {
      strictEqual((await draft("storage", "put", "--data", data, "--hex", "00ff", "0a")).code, 0);
      strictEqual((await draft("storage", "get", "--data", data, "--hex", "00ff")).stdout, "0a\n");
      const bad = await draft("storage", "get", "--data", data, "--hex", "0g");
      strictEqual(bad.code, 2);
      match(bad.stderr, /not hex/);
    });
    await t.step("a missing key exits 1 and names the key", async () => {
      const missing = await draft("storage", "get", "--data", data, "gamma");
      strictEqual(missing.code, 1);
      match(missing.stderr, /"gamma" not found/);
    });
    await t.step("a directory held by a running store is refused, not opened twice", async () => {
      const holder = await Storage.open(data);
      try {
        const refused = await draft("storage", "get", "--data", data, "alpha");
        strictEqual(refused.code, 1);
        match(refused.stderr, /in use|locked/);
      } finally {
        await holder.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
