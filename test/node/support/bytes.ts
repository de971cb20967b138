import { spawn } from "node:child_process";
import { createHash } from "node:crypto";

/**
 * Byte helpers shared by the Node-side tests (node, cli, browser projects): SHA-256 in hex,
 * a stream of given bytes and back, deterministic pseudo-random bytes, and Debian's `age`.
 */

/** SHA-256 of `b`, lower-case hex. */
export const sha256 = (b: Uint8Array | string): string => createHash("sha256").update(b).digest("hex");

/** `bytes` as a stream, in chunks of `chunk` bytes (pulled: nothing is queued ahead of the reader). */
export function streamOf(bytes: Uint8Array, chunk = 50_000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

/** Everything `s` gives, in one Buffer. */
export async function collect(s: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of s as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return Buffer.concat(parts);
}

/** A seeded PRNG (mulberry32): the same seed gives the same numbers in [0, 1), so a failure reproduces. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` pseudo-random bytes from `seed` (the same seed, the same bytes). */
export function seededBytes(n: number, seed: number): Buffer {
  const next = prng(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) {
    const v = Math.floor(next() * 4294967296);
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
  }
  return out;
}

/** Runs Debian's `age` with `input` on stdin; resolves with its stdout (rejects on a non-zero exit, with its stderr). */
export function age(args: string[], input: Uint8Array = new Uint8Array()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn("age", args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on("data", (c: Buffer) => out.push(c));
    p.stderr.on("data", (c: Buffer) => err.push(c));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`age ${args.join(" ")}: ${code}: ${Buffer.concat(err)}`))));
    p.stdin.end(input);
  });
}
