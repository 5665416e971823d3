import assert from "node:assert/strict";
import { RpcError, Status } from "../../shared/rpc/mod.ts";
import { freePort } from "../client/mod.ts";
import { RegistryClient } from "./mod.ts";

Deno.test("registry client: no member answering is UNAVAILABLE naming every endpoint", async () => {
  const endpoints = [`127.0.0.1:${freePort()}`, `127.0.0.1:${freePort()}`];
  const registry = await RegistryClient.connect(endpoints);
  try {
    await assert.rejects(
      registry.query({ name: "web" }),
      (error: unknown) =>
        error instanceof RpcError && error.code === Status.UNAVAILABLE &&
        error.message.includes(`no registry member (${endpoints.join(", ")}) answered Query`),
    );
  } finally {
    registry.close();
  }
});

Deno.test("registry client: endpoints are checked", async () => {
  await assert.rejects(RegistryClient.connect("nowhere"), /not host:port/);
});
