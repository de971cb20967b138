/// <reference lib="webworker" />
import { encrypterFor } from "../../client/seal/stream";
import { loadWasmAead } from "./chacha";
import { readFile } from "./read";
import type { EncryptJob } from "./protocol";
import { serve } from "./serve";

/**
 * /seal-encrypt.js, a dedicated worker (web/seal/seal-file.ts starts one per sealed file): reads
 * the File as a stream, seals it with age-encryption's Encrypter (client/seal encrypterFor: X25519
 * recipients only; all the cryptography is the library's, its ChaCha20-Poly1305 libsodium's where
 * WebAssembly runs) and writes the age file into the OPFS
 * spool through a FileSystemSyncAccessHandle (synchronous writes, only in a worker). The
 * plaintext's SHA-256 is computed at the same time by /seal-hash.js in another worker, so the
 * two run on two cores instead of one after the other on the page's thread. On any failure (the
 * file cannot be read, an abort, a full disk) the spool file is removed before `failed` is said.
 */
/** Bytes per write to the spool. */
const WRITE_BATCH = 1 << 20;

/**
 * age-encryption's ChaCha20-Poly1305 here: libsodium's WebAssembly from /seal-aead.js (about 3×
 * @noble/ciphers' JavaScript), loaded once as the worker starts, or JavaScript's where it cannot
 * load (web/seal-worker/chacha.ts). This script's policy allows WebAssembly (public/_headers).
 */
const aead = loadWasmAead("/seal-aead.js");

serve<EncryptJob>("encrypt", async (job, r) => {
  let access: FileSystemSyncAccessHandle | null = null;
  try {
    const sealedWith = await aead;
    const e = encrypterFor(job.recipients);
    const handle = await job.dir.getFileHandle(job.name, { create: true });
    access = await handle.createSyncAccessHandle();
    access.truncate(0);
    const reader = (await e.encrypt(readFile(job.file, r.count))).getReader();
    r.watch(reader);
    // age gives 64 KiB chunks; they go to the spool in 1 MiB writes (each write is a call into
    // the browser's storage: in a private window's in-memory OPFS, a costly one)
    const batch = new Uint8Array(WRITE_BATCH);
    let used = 0;
    let written = 0;
    const out = access;
    const write = (bytes: Uint8Array) => {
      const n = out.write(bytes, { at: written });
      if (n !== bytes.length) throw new DOMException(`the spool took ${n} of ${bytes.length} bytes`, "QuotaExceededError");
      written += n;
    };
    for (;;) {
      const { done, value } = await reader.read();
      r.check();
      if (done) break;
      if (used + value.length > batch.length) {
        write(batch.subarray(0, used));
        used = 0;
      }
      if (value.length >= batch.length) write(value);
      else {
        batch.set(value, used);
        used += value.length;
      }
    }
    if (used) write(batch.subarray(0, used));
    access.flush();
    access.close();
    access = null;
    return { type: "done", plain: r.plain, written, sealedWith };
  } catch (err) {
    try {
      access?.close();
      await job.dir.removeEntry(job.name);
    } catch {
      // never made, or gone already
    }
    throw err;
  }
});
