/**
 * A workaround for a per-call cost of grpc-js on Deno's `node:http2`.
 *
 * When a unary call's response ends, grpc-js half-closes the client stream with `end()`
 * although the request side has already finished. `Duplex.prototype.end` on a finished stream
 * builds an `ERR_STREAM_ALREADY_FINISHED` error that nobody sees (no callback is passed), and
 * Deno's Node errors format their stack trace on construction: measured at about 20% of a
 * client's CPU per unary call (588 µs to 370 µs per echo call on Deno 2.9.3). Skipping `end()`
 * exactly when it can have no effect (no arguments, writable side already finished) removes
 * that cost and changes nothing else: Deno's `end` only marks a stream that is not yet ending.
 *
 * @module
 */
import * as http2 from "node:http2";

/** Marks a prototype that already has the quiet `end`. */
const PATCHED = Symbol.for("draft.rpc.quiet_end_of_finished_stream");

/** The part of a stream prototype the patch touches. */
export interface EndablePrototype {
  // deno-lint-ignore no-explicit-any
  end: (...args: any[]) => unknown;
  [PATCHED]?: true;
}

/**
 * Makes `end()` without arguments on a finished stream return the stream at once instead of
 * building and dropping an error. Idempotent. Returns whether `prototype` is patched (false
 * when the runtime has no such prototype).
 *
 * @param prototype the stream prototype; default `node:http2`'s `Http2Stream.prototype`
 * @example
 * ```ts
 * quietEndOfFinishedStreams(); // once, before making calls
 * ```
 */
export function quietEndOfFinishedStreams(
  prototype: EndablePrototype | undefined = http2StreamPrototype(),
): boolean {
  if (prototype === undefined || typeof prototype.end !== "function") return false;
  if (prototype[PATCHED]) return true;
  const original = prototype.end;
  prototype.end = function (this: { writableFinished?: boolean }, ...args: unknown[]) {
    if (args.length === 0 && this.writableFinished === true) return this;
    return original.apply(this, args);
  };
  prototype[PATCHED] = true;
  return true;
}

function http2StreamPrototype(): EndablePrototype | undefined {
  const exported = (http2 as unknown as { Http2Stream?: { prototype: EndablePrototype } })
    .Http2Stream;
  return exported?.prototype;
}
