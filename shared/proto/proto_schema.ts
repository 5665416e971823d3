/**
 * A loaded set of `.proto` files: message codecs, service shapes and file descriptors.
 *
 * @module
 */
import { protobuf, type protobufTypes } from "../../deps.ts";
import { buildFileDescriptors, type EncodedFileDescriptor } from "./file_descriptors.ts";
import { createMessageCodec, type MessageCodec, type ProtoMessage } from "./message_codec.ts";
import { loadProtoRoot, type LoadProtoRootOptions, ProtoLoadError } from "./proto_files.ts";

/** One RPC method of a service, with the codecs of its request and response. */
export interface MethodSchema {
  /** The method name as in the `.proto` file, e.g. `Range`. */
  readonly name: string;
  /** The HTTP/2 path gRPC uses, e.g. `/etcdserverpb.KV/Range`. */
  readonly path: string;
  /** True when the client sends a stream of requests. */
  readonly request_stream: boolean;
  /** True when the server sends a stream of responses. */
  readonly response_stream: boolean;
  /** Encodes and decodes the request message. */
  readonly request_codec: MessageCodec;
  /** Encodes and decodes the response message. */
  readonly response_codec: MessageCodec;
}

/** One service: its fully qualified name and its methods in `.proto` order. */
export interface ServiceSchema {
  /** The fully qualified name, e.g. `etcdserverpb.KV`. */
  readonly full_name: string;
  /** The methods, in the order the `.proto` file declares them. */
  readonly methods: readonly MethodSchema[];
}

/**
 * A parsed set of `.proto` files.
 *
 * @example
 * ```ts
 * const schema = await ProtoSchema.load(["etcd/rpc.proto"], { base_url: new URL("./", import.meta.url) });
 * const put = schema.codec("etcdserverpb.PutRequest");
 * const kv = schema.service("etcdserverpb.KV");
 * ```
 */
export class ProtoSchema {
  readonly #codecs = new Map<string, MessageCodec>();
  readonly #services = new Map<string, ServiceSchema>();
  #file_descriptors: EncodedFileDescriptor[] | undefined;

  /**
   * Wraps an already loaded protobufjs root (its references resolved).
   *
   * @param root the root, as {@link loadProtoRoot} returns it
   */
  constructor(readonly root: protobufTypes.Root) {}

  /**
   * Reads and parses `files` (relative to `options.base_url`) and what they import.
   *
   * @param files paths of the `.proto` files to load
   * @param options where the files are and how to read them
   */
  static async load(files: readonly string[], options: LoadProtoRootOptions): Promise<ProtoSchema> {
    return new ProtoSchema(await loadProtoRoot(files, options));
  }

  /**
   * The codec of a message type, by fully qualified name (`etcdserverpb.PutRequest`).
   * Throws {@link ProtoLoadError} naming the type when the schema has no such message.
   *
   * @param type_name the fully qualified message name, without a leading dot
   */
  codec<T = ProtoMessage>(type_name: string): MessageCodec<T> {
    let codec = this.#codecs.get(type_name);
    if (!codec) {
      const type = this.#lookup(type_name, protobuf.Type, "message");
      codec = createMessageCodec(type);
      this.#codecs.set(type_name, codec);
    }
    return codec as MessageCodec<T>;
  }

  /**
   * The shape of a service, by fully qualified name (`etcdserverpb.KV`).
   * Throws {@link ProtoLoadError} listing the services there are when the name is unknown.
   *
   * @param full_name the fully qualified service name, without a leading dot
   */
  service(full_name: string): ServiceSchema {
    let schema = this.#services.get(full_name);
    if (!schema) {
      const service = this.#lookup(full_name, protobuf.Service, "service");
      const methods = service.methodsArray.map((method): MethodSchema => {
        method.resolve();
        return {
          name: method.name,
          path: `/${full_name}/${method.name}`,
          request_stream: method.requestStream === true,
          response_stream: method.responseStream === true,
          request_codec: this.codec(method.resolvedRequestType!.fullName.slice(1)),
          response_codec: this.codec(method.resolvedResponseType!.fullName.slice(1)),
        };
      });
      schema = { full_name, methods };
      this.#services.set(full_name, schema);
    }
    return schema;
  }

  /** Every service the loaded files declare, by fully qualified name, sorted. */
  serviceNames(): string[] {
    const names: string[] = [];
    collect(this.root, (object) => {
      if (object instanceof protobuf.Service) names.push(object.fullName.slice(1));
    }, 0);
    return names.sort();
  }

  /** The encoded file descriptors of every loaded file (for server reflection). */
  fileDescriptors(): readonly EncodedFileDescriptor[] {
    this.#file_descriptors ??= buildFileDescriptors(this.root);
    return this.#file_descriptors;
  }

  #lookup<K extends typeof protobuf.Type | typeof protobuf.Service>(
    name: string,
    kind: K,
    label: string,
  ): InstanceType<K> {
    const found = this.root.lookup(name);
    if (found instanceof kind) return found as InstanceType<K>;
    const known: string[] = [];
    collect(this.root, (object) => {
      if (object instanceof kind) known.push(object.fullName.slice(1));
    }, 0);
    const sample = known.slice(0, 12).join(", ") + (known.length > 12 ? ", …" : "");
    throw new ProtoLoadError(`no ${label} named ${JSON.stringify(name)} (known: ${sample})`);
  }
}

const MAX_DEPTH = 32;

function collect(
  namespace: protobufTypes.NamespaceBase,
  visit: (object: protobufTypes.ReflectionObject) => void,
  depth: number,
): void {
  if (depth > MAX_DEPTH) throw new ProtoLoadError(`namespaces nested deeper than ${MAX_DEPTH}`);
  for (const nested of namespace.nestedArray) {
    visit(nested);
    if (nested instanceof protobuf.Namespace) collect(nested, visit, depth + 1);
  }
}

/**
 * A service's method by name; throws {@link ProtoLoadError} listing the methods there are.
 *
 * @example
 * ```ts
 * const put = methodOf(schema.service("etcdserverpb.KV"), "Put");
 * ```
 */
export function methodOf(service: ServiceSchema, name: string): MethodSchema {
  const method = service.methods.find((candidate) => candidate.name === name);
  if (method) return method;
  const names = service.methods.map((candidate) => candidate.name).join(", ");
  throw new ProtoLoadError(`${service.full_name} has no method ${name} (its methods: ${names})`);
}
