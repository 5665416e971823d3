/**
 * etcd's own client against our server: `etcdctl` (Debian package `etcd-client`) puts, gets
 * and asks for status through a server built from our `.proto` files. This proves the
 * service paths, field numbers and types match etcd's on the wire, and that etcd clients skip
 * Blueprint's extra header fields. Skipped (with a note) when `etcdctl` is not on the PATH.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  CompareTarget,
  loadEtcdSchema,
  type PutRequest,
  type RangeRequest,
  type TxnRequest,
} from "../proto/mod.ts";
import { etcdError, RpcServer } from "./mod.ts";

async function findEtcdctl(): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const path = `${dir}/etcdctl`;
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const etcdctl = await findEtcdctl();
if (!etcdctl) {
  console.warn("etcdctl_compat_test: etcdctl not on PATH (apt-get install etcd-client)");
}

Deno.test({
  name: "etcdctl puts, gets and reads status through our etcd API definitions",
  ignore: etcdctl === undefined,
  async fn() {
    const schema = await loadEtcdSchema();
    const server = new RpcServer();
    const store = new Map<string, { value: Uint8Array; mod_revision: bigint }>();
    let revision = 0n;
    const header = () => ({
      cluster_id: 0xfedcba9876543210n,
      member_id: 0x8000000000000001n,
      revision,
      raft_term: 2n,
      leader_id: 0x8000000000000001n,
      leader_client_address: "127.0.0.1:1",
    });
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    server.addService(schema, "etcdserverpb.KV", {
      Put: (request: PutRequest) => {
        store.set(decode(request.key), { value: request.value, mod_revision: ++revision });
        return { header: header() };
      },
      Range: (request: RangeRequest) => {
        if (request.revision > revision) throw etcdError("FutureRev");
        const found = store.get(decode(request.key));
        const kvs = found
          ? [{
            key: request.key,
            value: found.value,
            mod_revision: found.mod_revision,
            version: 1n,
          }]
          : [];
        return { header: header(), kvs, count: BigInt(kvs.length) };
      },
      Txn: (request: TxnRequest) => {
        const succeeded = request.compare.every((compare) =>
          compare.target === CompareTarget.MOD &&
          store.get(decode(compare.key))?.mod_revision === compare.mod_revision
        );
        const ops = succeeded ? request.success : request.failure;
        revision++;
        for (const op of ops) {
          const put = op.request_put!;
          store.set(decode(put.key), { value: put.value, mod_revision: revision });
        }
        return {
          header: header(),
          succeeded,
          responses: ops.map(() => ({ response_put: { header: header() } })),
        };
      },
    });
    server.addService(schema, "etcdserverpb.Lease", {
      LeaseGrant: (request: { TTL: bigint }) => ({
        header: header(),
        ID: 0x694d7a1b2c3d4e5fn,
        TTL: request.TTL,
      }),
    });
    server.addService(schema, "etcdserverpb.Maintenance", {
      Status: () => ({ header: header(), version: "3.4.0-blueprint", leader: 7n, raftTerm: 2n }),
    });
    const { address } = await server.listen("127.0.0.1:0");
    /** Runs etcdctl; `args` ending in a line break are its stdin (for `txn`). */
    const attempt = async (...args: string[]) => {
      const stdin_text = args.at(-1)?.endsWith("\n") ? args.pop()! : "";
      const child = new Deno.Command(etcdctl!, {
        args: [`--endpoints=${address}`, "--dial-timeout=5s", "--command-timeout=10s", ...args],
        env: { ETCDCTL_API: "3" },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin_text));
      await writer.close();
      const output = await child.output();
      const stdout = new TextDecoder().decode(output.stdout);
      const stderr = new TextDecoder().decode(output.stderr);
      return { code: output.code, stdout, stderr, command: `etcdctl ${args.join(" ")}` };
    };
    const run = async (...args: string[]) => {
      const result = await attempt(...args);
      strictEqual(result.code, 0, `${result.command}: ${result.stderr}`);
      return result.stdout;
    };
    try {
      strictEqual((await run("put", "greeting", "hello")).trim(), "OK");
      deepStrictEqual((await run("get", "greeting")).trim().split("\n"), ["greeting", "hello"]);
      const got_text = await run("get", "greeting", "-w", "json");
      // JSON numbers lose 64-bit precision in JavaScript: read the ID from the text.
      strictEqual(/"cluster_id":(\d+)/.exec(got_text)?.[1], 0xfedcba9876543210n.toString());
      const got = JSON.parse(got_text);
      strictEqual(got.header.revision, 1);
      strictEqual(atob(got.kvs[0].value), "hello");
      strictEqual(got.kvs[0].mod_revision, 1);
      // Compare the mod revision (1), then put two keys: field numbers of Txn, Compare, oneofs.
      const txn = await run(
        "txn",
        'mod("greeting") = "1"\n\nput greeting world\nput other x\n\n\n',
      );
      strictEqual(txn.trim().split("\n")[0], "SUCCESS");
      deepStrictEqual((await run("get", "greeting")).trim().split("\n"), ["greeting", "world"]);
      strictEqual(
        (await run("lease", "grant", "10")).trim(),
        "lease 694d7a1b2c3d4e5f granted with TTL(10s)",
      );
      // etcd's error text reaches etcdctl unchanged, so it maps to etcd's typed error.
      const future = await attempt("get", "greeting", "--rev=999");
      strictEqual(future.code, 1);
      ok(
        future.stderr.includes("etcdserver: mvcc: required revision is a future revision"),
        future.stderr,
      );
      const status = JSON.parse(await run("endpoint", "status", "-w", "json"));
      strictEqual(status[0].Status.version, "3.4.0-blueprint");
      strictEqual(status[0].Status.leader, 7);
    } finally {
      await server.shutdown(2000);
    }
  },
});
