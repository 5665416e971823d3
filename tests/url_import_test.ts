/**
 * Users import `mod.ts` from a URL, where the repository's import map does not apply. This
 * serves the repository over a loopback HTTP server and imports `mod.ts` from it in a fresh
 * Deno process that has no config file, as a user's program would.
 */
import { strictEqual } from "node:assert/strict";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

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

Deno.test("mod.ts imports from a URL without the repository's import map", async () => {
  const server = serveRepository();
  const origin = `127.0.0.1:${server.addr.port}`;
  const workdir = await Deno.makeTempDir();
  try {
    const program = [
      `const draft = await import("http://${origin}/mod.ts");`,
      `if (typeof draft.main !== "function") throw new Error("main is not exported");`,
      `console.log(draft.VERSION);`,
    ].join("\n");
    await Deno.writeTextFile(join(workdir, "user_program.ts"), program);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "-A", "user_program.ts"],
      cwd: workdir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    strictEqual(output.code, 0, `import from URL failed:\n${stderr}`);
    strictEqual(/^\d+\.\d+\.\d+$/.test(new TextDecoder().decode(output.stdout).trim()), true);
  } finally {
    await server.shutdown();
    await Deno.remove(workdir, { recursive: true });
  }
});
