import { writev } from "node:fs";
import { promisify } from "node:util";
import { parentPort, workerData } from "node:worker_threads";
import { SealError } from "../client/seal/errors";
import { openStream, type Expected } from "../client/seal/stream";

/**
 * The worker thread that opens one sealed file of a transfer (cli/onepass.ts `sealedSink`):
 * the age bytes come as transferred ArrayBuffers, in order; client/seal's `openStream` decrypts
 * them (age-encryption) and checks the plaintext against the seal (its size and SHA-256), and
 * the plaintext is written here, in writes of about 1 MiB, to the file the main thread opened
 * (its descriptor, `fd`). Decrypting is age-encryption's JavaScript ChaCha20-Poly1305 (about
 * 60–70 MB/s here), far slower than the network, the disk and the package's hash, which the
 * main thread goes on with meanwhile.
 *
 * Built as its own small bundle, dist/cli/open-worker.mjs (scripts/build-cli.mjs), so that
 * starting it loads only age-encryption and the seal code, not the whole command.
 *
 * Messages in: { ab, bytes } (the next age bytes, the first `bytes` of a transferred buffer), or
 * "end" (no more), or "abort" (given up: stop, once a write under way is through). Out: { taken: bytes, back: ab } once a piece was handed to the decrypter (the
 * main thread counts what is in flight, and fills the buffer it gets back again),
 * { done: bytes written } at the end, or { error: { name, code?, message } }.
 */

export interface OpenJob {
  fd: number;
  identities: string[];
  expected: Expected;
}

const BATCH = 1024 * 1024;
const writevP = promisify(writev);

async function run(port: NonNullable<typeof parentPort>, job: OpenJob): Promise<void> {
  const pipe = new TransformStream<Uint8Array, Uint8Array>();
  const writer = pipe.writable.getWriter();
  const done = (async () => {
    const plain = await openStream(pipe.readable, job.identities, job.expected);
    return writeAll(job.fd, plain);
  })();
  done.catch(() => undefined); // (reported below)
  let queue: Promise<unknown> = Promise.resolve();
  port.on("message", (m: { ab: ArrayBuffer; bytes: number } | "end" | "abort") => {
    // given up by the main thread: the streams fail, a write under way finishes, then the answer
    if (m === "abort") return void writer.abort(new Error("stopped")).catch(() => undefined);
    queue = queue.then(async () => {
      if (m === "end") return void (await Promise.race([writer.close(), done]));
      await Promise.race([writer.ready, done]); // (the decrypter's pace)
      // a copy of its own for the decrypter (which may hold on to it), the buffer given back to be filled again
      void writer.write(new Uint8Array(m.ab, 0, m.bytes).slice()).catch(() => undefined);
      port.postMessage({ taken: m.bytes, back: m.ab }, [m.ab]);
    });
    queue.catch(() => undefined);
  });
  try {
    port.postMessage({ done: await done });
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    port.postMessage({ error: { name: err?.name ?? "Error", code: e instanceof SealError ? e.code : err?.code, message: err?.message ?? String(e) } });
  }
  port.close();
}

/** The plaintext into the file from its start, about BATCH bytes per write; how many bytes. */
async function writeAll(fd: number, stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let batch: Uint8Array[] = [];
  let bytes = 0;
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (value) {
      batch.push(value);
      bytes += value.byteLength;
    }
    if (bytes >= BATCH || (done && bytes > 0)) {
      let written = (await writevP(fd, batch, at)).bytesWritten;
      if (written < bytes) {
        // a short write (rare): the rest, one write at a time
        const rest = Buffer.concat(batch, bytes);
        while (written < bytes) written += (await writevP(fd, [rest.subarray(written)], at + written)).bytesWritten;
      }
      at += bytes;
      batch = [];
      bytes = 0;
    }
    if (done) return at;
  }
}

if (parentPort && (workerData as { pushdropOpen?: OpenJob } | undefined)?.pushdropOpen) void run(parentPort, (workerData as { pushdropOpen: OpenJob }).pushdropOpen);
