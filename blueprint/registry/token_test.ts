import assert from "node:assert/strict";
import { hmacKey, parseToken, signToken, TokenError, verifyToken } from "./token.ts";

const secret = (fill: number) => new Uint8Array(32).fill(fill);

Deno.test("token: signed claims verify; forged, foreign and malformed tokens are refused", async (t) => {
  const key = await hmacKey(secret(1));
  const claims = { process_id: "p-1", cluster_id: "abc", issued_at_ms: 1_700_000_000_000 };
  const token = await signToken(key, claims);
  await t.step("round trip", async () => {
    assert.deepEqual(await verifyToken(key, token, "abc"), claims);
  });
  await t.step("another secret (forged)", async () => {
    await assert.rejects(verifyToken(await hmacKey(secret(2)), token, "abc"), /signature/);
  });
  await t.step("payload changed, signature kept", async () => {
    const other = await signToken(key, { ...claims, process_id: "p-2" });
    const spliced = `${other.split(".")[0]}.${token.split(".")[1]}`;
    await assert.rejects(verifyToken(key, spliced, "abc"), /signature/);
  });
  await t.step("another cluster", async () => {
    await assert.rejects(verifyToken(key, token, "def"), /belongs to cluster abc/);
  });
  await t.step("malformed", () => {
    for (const bad of ["", "x", "a.b.c", "!!.??", "e30.AAAA"]) {
      assert.throws(() => parseToken(bad), TokenError, bad);
    }
  });
});
