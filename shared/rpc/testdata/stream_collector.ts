/**
 * Test support: {@link DirectStreamHandlers} that collect a stream's messages and its end, and
 * a bounded wait for a condition.
 *
 * @module
 */
import type { ProtoMessage } from "../../proto/mod.ts";
import type { DirectStreamHandlers, RpcError } from "../mod.ts";

/** Handlers with the messages so far, the first message's arrival and the end. */
export interface StreamCollector {
  /** Give these to `bidiStream`. */
  readonly handlers: DirectStreamHandlers<ProtoMessage>;
  /** Every message received, in order. */
  readonly messages: ProtoMessage[];
  /** Resolves when the first message arrives. */
  readonly first: Promise<void>;
  /** Resolves with the end: undefined for OK, else the status. */
  readonly ended: Promise<RpcError | undefined>;
}

/** Makes a {@link StreamCollector}. */
export function collector(): StreamCollector {
  const messages: ProtoMessage[] = [];
  let on_first: () => void = () => {};
  const first = new Promise<void>((resolve) => on_first = resolve);
  let on_end: (error: RpcError | undefined) => void = () => {};
  const ended = new Promise<RpcError | undefined>((resolve) => on_end = resolve);
  const handlers: DirectStreamHandlers<ProtoMessage> = {
    on_message(message) {
      messages.push(message);
      on_first();
    },
    on_end: (error) => on_end(error),
  };
  return { handlers, messages, first, ended };
}

/**
 * Waits until `check` holds, looking every 10 ms at most `attempts` times; the caller asserts.
 *
 * @param check the condition
 * @param attempts how many times to look (200: about 2 s)
 */
export async function waitUntil(check: () => boolean, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts && !check(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
