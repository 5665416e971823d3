/**
 * The RPC and proto modules imported from a URL, as a user's program would: without the
 * repository's import map or node_modules, with the `.proto` files fetched over HTTP, and
 * with only the permissions the modules document.
 */
import { strictEqual } from "node:assert/strict";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

function serveRepository(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = normalize(join(REPO_ROOT, decodeURIComponent(new URL(request.url).pathname)));
    if (!path.startsWith(REPO_ROOT)) return new Response("outside the repository", { status: 403 });
    try {
      return new Response(await Deno.readFile(path), {
        headers: { "content-type": "application/typescript; charset=utf-8" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

Deno.test("rpc and proto modules work when imported from a URL", async () => {
  const server = serveRepository();
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const workdir = await Deno.makeTempDir();
  try {
    const program = `
      const proto = await import("${origin}/shared/proto/mod.ts");
      const rpc = await import("${origin}/shared/rpc/mod.ts");
      const schema = await proto.loadEtcdSchema();
      const server = new rpc.RpcServer();
      server.addService(schema, "etcdserverpb.KV", { Put: () => ({ header: { revision: 3n } }) });
      const { address } = await server.listen("127.0.0.1:0");
      const channel = new rpc.RpcChannel(address);
      const put = proto.methodOf(schema.service("etcdserverpb.KV"), "Put");
      const response = await channel.unary(put, { key: new Uint8Array([1]) });
      const health = (await proto.loadHealthSchema()).service(proto.HEALTH_SERVICE);
      const check = await channel.unary(proto.methodOf(health, "Check"), { service: "" });
      channel.close();
      await server.shutdown();
      console.log(response.header.revision, check.status);
    `;
    await Deno.writeTextFile(join(workdir, "user_program.ts"), program);
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        `--allow-import=127.0.0.1:${server.addr.port}`,
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-sys=uid,gid",
        "user_program.ts",
      ],
      cwd: workdir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    strictEqual(output.code, 0, `the program failed:\n${stderr}`);
    strictEqual(new TextDecoder().decode(output.stdout).trim(), "3n 1"); // revision 3n, SERVING
  } finally {
    await server.shutdown();
    await Deno.remove(workdir, { recursive: true });
  }
});
