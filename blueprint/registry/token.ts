/**
 * Process tokens: `base64url(payload) "." base64url(HMAC-SHA256(secret, payload))`, where the
 * payload is the JSON `{"p": process id, "c": cluster id (hex), "t": issued-at unix ms}`.
 * Any member verifies a token with the cluster secret it holds in the replicated keyspace;
 * no member keeps per-token state.
 *
 * @module
 */

/** Size of the cluster secret, in bytes. */
export const CLUSTER_SECRET_SIZE_BYTES = 32;
/** Longest token accepted, in characters (ours are about 150). */
export const MAX_TOKEN_LENGTH = 1024;

/** What a token says about its holder. */
export interface TokenClaims {
  /** The process id. */
  process_id: string;
  /** The cluster id, lower-case hex. */
  cluster_id: string;
  /** When it was issued, unix ms. */
  issued_at_ms: number;
}

/** A token that must be refused; the message says why (for UNAUTHENTICATED). */
export class TokenError extends Error {
  /**
   * Makes the error.
   *
   * @param message why the token is refused
   */
  constructor(message: string) {
    super(message);
    this.name = "TokenError";
  }
}

/**
 * Imports a cluster secret as an HMAC-SHA256 key.
 *
 * @example
 * ```ts
 * const key = await hmacKey(crypto.getRandomValues(new Uint8Array(32)));
 * ```
 */
export function hmacKey(secret: Uint8Array): Promise<CryptoKey> {
  if (secret.length !== CLUSTER_SECRET_SIZE_BYTES) {
    throw new TokenError(
      `cluster secret is ${secret.length} bytes; it must be ${CLUSTER_SECRET_SIZE_BYTES}`,
    );
  }
  return crypto.subtle.importKey(
    "raw",
    secret as BufferSource,
    {
      name: "HMAC",
      hash: "SHA-256",
    },
    false,
    ["sign", "verify"],
  );
}

/**
 * Signs `claims` into a token.
 *
 * @example
 * ```ts
 * const token = await signToken(key, { process_id: "p1", cluster_id: "ab", issued_at_ms: Date.now() });
 * ```
 */
export async function signToken(key: CryptoKey, claims: TokenClaims): Promise<string> {
  const payload = new TextEncoder().encode(
    JSON.stringify({ p: claims.process_id, c: claims.cluster_id, t: claims.issued_at_ms }),
  );
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, payload as BufferSource));
  return `${toBase64Url(payload)}.${toBase64Url(signature)}`;
}

/**
 * Checks a token's form, its cluster and its signature; answers its claims or throws
 * {@link TokenError} saying which check failed.
 *
 * @example
 * ```ts
 * const claims = await verifyToken(key, token, "ab"); // claims.process_id
 * ```
 */
export async function verifyToken(
  key: CryptoKey,
  token: string,
  cluster_id: string,
): Promise<TokenClaims> {
  const claims = parseToken(token);
  if (claims.cluster_id !== cluster_id) {
    throw new TokenError(
      `the token belongs to cluster ${claims.cluster_id}, not to this cluster ${cluster_id}`,
    );
  }
  const [payload, signature] = token.split(".").map(fromBase64Url);
  const valid = await crypto.subtle.verify(
    "HMAC",
    key,
    signature as BufferSource,
    payload as BufferSource,
  );
  if (!valid) throw new TokenError("the token's signature is not valid for this cluster (forged?)");
  return claims;
}

/** Decodes a token's claims without checking the signature; throws {@link TokenError}. */
export function parseToken(token: string): TokenClaims {
  if (typeof token !== "string" || token.length === 0) {
    throw new TokenError("the token is missing; send the token Initialize returned");
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new TokenError(`the token is ${token.length} chars; at most ${MAX_TOKEN_LENGTH}`);
  }
  const parts = token.split(".");
  if (parts.length !== 2) {
    throw new TokenError("the token is malformed (expected payload.signature)");
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(fromBase64Url(parts[0])));
  } catch {
    throw new TokenError("the token is malformed (its payload is not base64url JSON)");
  }
  const { p, c, t } = (claims ?? {}) as Record<string, unknown>;
  if (typeof p !== "string" || typeof c !== "string" || !Number.isSafeInteger(t)) {
    throw new TokenError("the token is malformed (payload needs p, c and t)");
  }
  return { process_id: p, cluster_id: c, issued_at_ms: t as number };
}

function toBase64Url(data: Uint8Array): string {
  let binary = "";
  for (const byte of data) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TokenError("the token is not base64url");
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") +
    "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
