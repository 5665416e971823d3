/**
 * Reads `.proto` files (from disk or over HTTP) and parses them into one protobufjs root.
 *
 * The files are parsed at run time rather than compiled to code, so the `.proto` text stays the
 * single source of truth. Paths are resolved against a base URL, normally this folder's
 * `import.meta.url`: a `file:` base reads from disk, an `http(s):` base fetches, which is what
 * makes the module work when a user imports it from a URL.
 *
 * @module
 */
import { protobuf } from "../../deps.ts";

/** The most files one load follows through `import` statements; a cycle or typo cannot loop. */
export const MAX_PROTO_FILES = 64;

/** The largest `.proto` text accepted, in bytes: ours are a few tens of KiB. */
export const MAX_PROTO_FILE_SIZE_BYTES = 1024 * 1024;

/** A `.proto` file could not be read or parsed; the message names the file and the cause. */
export class ProtoLoadError extends Error {
  /**
   * Makes the error.
   *
   * @param message which file failed and why
   */
  constructor(message: string) {
    super(message);
    this.name = "ProtoLoadError";
  }
}

/** Reads the text of one file given its absolute URL. Replaceable in tests. */
export type ProtoTextReader = (url: URL) => Promise<string>;

/** Options of {@link loadProtoRoot}. */
export interface LoadProtoRootOptions {
  /** The URL that file paths (and their imports) are relative to. */
  readonly base_url: URL;
  /** How to read a file; the default reads `file:` URLs from disk and fetches `http(s):`. */
  readonly read_text?: ProtoTextReader;
}

/**
 * Reads the text at `url`: from disk for `file:` URLs, with `fetch` for `http:`/`https:`.
 *
 * @example
 * ```ts
 * const text = await readProtoText(new URL("./etcd/kv.proto", import.meta.url));
 * ```
 */
export async function readProtoText(url: URL): Promise<string> {
  let text: string;
  if (url.protocol === "file:") {
    text = await Deno.readTextFile(url);
  } else if (url.protocol === "http:" || url.protocol === "https:") {
    const response = await fetch(url);
    if (!response.ok) {
      await response.body?.cancel();
      throw new ProtoLoadError(`GET ${url.href} answered HTTP ${response.status}`);
    }
    text = await response.text();
  } else {
    throw new ProtoLoadError(
      `cannot read ${url.href}: protocol ${url.protocol} (allowed: file:, http:, https:)`,
    );
  }
  if (text.length > MAX_PROTO_FILE_SIZE_BYTES) {
    throw new ProtoLoadError(
      `${url.href} is ${text.length} bytes; the limit is ${MAX_PROTO_FILE_SIZE_BYTES}`,
    );
  }
  return text;
}

/**
 * Parses `files` (paths relative to `base_url`) and every file they import into one root,
 * with field names kept exactly as written in the `.proto` text (`range_end`, not
 * `rangeEnd`), and resolves all type references.
 *
 * Each parsed object remembers its file path (`filename`), which reflection uses to name the
 * files it serves.
 *
 * @example
 * ```ts
 * const root = await loadProtoRoot(["etcd/rpc.proto"], { base_url: new URL("./", import.meta.url) });
 * root.lookupType("etcdserverpb.PutRequest");
 * ```
 */
export async function loadProtoRoot(
  files: readonly string[],
  options: LoadProtoRootOptions,
): Promise<protobuf.Root> {
  if (files.length === 0) throw new ProtoLoadError("no .proto files given (need at least one)");
  const read_text = options.read_text ?? readProtoText;
  const root = new protobuf.Root();
  const pending = [...files];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const path = pending.shift()!;
    if (seen.has(path)) continue;
    if (seen.size >= MAX_PROTO_FILES) {
      throw new ProtoLoadError(`more than ${MAX_PROTO_FILES} .proto files reached from ${files}`);
    }
    seen.add(path);
    const url = new URL(path, options.base_url);
    let text: string;
    try {
      text = await read_text(url);
    } catch (error) {
      if (error instanceof ProtoLoadError) throw error;
      throw new ProtoLoadError(`cannot read ${path} (${url.href}): ${describe(error)}`);
    }
    for (const imported of parseInto(root, path, text)) pending.push(imported);
  }
  try {
    root.resolveAll();
  } catch (error) {
    throw new ProtoLoadError(`unresolved reference in ${files.join(", ")}: ${describe(error)}`);
  }
  return root;
}

/** Parses one file into `root`; returns the paths it imports. */
function parseInto(root: protobuf.Root, path: string, text: string): string[] {
  // protobufjs records the file being parsed in this static field and stamps it on every
  // object it creates; Root.load does the same.
  const parse = protobuf.parse as typeof protobuf.parse & { filename: string | null };
  parse.filename = path;
  try {
    const parsed = protobuf.parse(text, root, { keepCase: true });
    return [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])];
  } catch (error) {
    throw new ProtoLoadError(`cannot parse ${path}: ${describe(error)}`);
  } finally {
    parse.filename = null;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
