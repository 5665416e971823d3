import assert from "node:assert/strict";
import { EndpointList, MAX_ENDPOINTS, normalizeEndpoint, parseEndpoints } from "./endpoint_list.ts";

Deno.test("parseEndpoints", async (t) => {
  await t.step("splits, trims, strips schemes and drops duplicates", () => {
    assert.deepEqual(parseEndpoints(" 127.0.0.1:1 ,http://127.0.0.1:2/,127.0.0.1:1"), [
      "127.0.0.1:1",
      "127.0.0.1:2",
    ]);
  });
  await t.step("rejects a missing port, a bad port and an empty list, naming the input", () => {
    assert.throws(() => parseEndpoints("localhost"), /"localhost" is not host:port/);
    assert.throws(() => parseEndpoints("a:0"), /port 1-65535/);
    assert.throws(() => parseEndpoints("a:70000"), /port 1-65535/);
    assert.throws(() => parseEndpoints([]), /no endpoints given/);
  });
  await t.step("bounds the list", () => {
    const many = Array.from({ length: MAX_ENDPOINTS + 1 }, (_, i) => `h:${i + 1}`);
    assert.throws(() => parseEndpoints(many), /at most 32/);
  });
  await t.step("normalizeEndpoint keeps a host name", () => {
    assert.equal(normalizeEndpoint("https://node-1.example:2379"), "node-1.example:2379");
  });
});

Deno.test("EndpointList", async (t) => {
  await t.step("starts at the first endpoint and moves on after a failure, wrapping", () => {
    const list = new EndpointList(["a:1", "b:2", "c:3"]);
    assert.equal(list.current, "a:1");
    list.noteFailure("a:1");
    assert.equal(list.current, "b:2");
    list.noteFailure("b:2");
    list.noteFailure("c:3");
    assert.equal(list.current, "a:1");
  });
  await t.step("a failure at an endpoint already left does not move the list again", () => {
    const list = new EndpointList(["a:1", "b:2", "c:3"]);
    list.noteFailure("a:1");
    list.noteFailure("a:1"); // a second call in flight to a:1 failed too
    assert.equal(list.current, "b:2");
  });
  await t.step("follows a leader hint, learning an unknown address", () => {
    const list = new EndpointList(["a:1", "b:2"]);
    list.noteLeader("b:2");
    assert.equal(list.current, "b:2");
    list.noteLeader("http://c:3");
    assert.equal(list.current, "c:3");
    assert.deepEqual(list.all, ["a:1", "b:2", "c:3"]);
  });
  await t.step("ignores an empty or malformed hint", () => {
    const list = new EndpointList(["a:1", "b:2"]);
    list.noteLeader("");
    list.noteLeader("not an address");
    assert.equal(list.current, "a:1");
    assert.deepEqual(list.all, ["a:1", "b:2"]);
  });
  await t.step("learns no more than MAX_ENDPOINTS", () => {
    const list = new EndpointList(["a:1"]);
    for (let port = 2; port <= MAX_ENDPOINTS + 5; port++) list.noteLeader(`h:${port}`);
    assert.equal(list.all.length, MAX_ENDPOINTS);
  });
});
