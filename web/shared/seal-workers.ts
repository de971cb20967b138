/**
 * The sealing workers' scripts (web/seal-worker/, built by scripts/build-web.mjs; the CSP's
 * worker-src 'self' allows them): web/seal/seal-file.ts starts them, and the service worker keeps
 * a copy of each (web/sw/sw.ts) so a page that goes offline before it ever sealed a file still
 * seals in them, not on its own thread at half the rate.
 */
export const SEAL_WORKERS = { encrypt: "/seal-encrypt.js", hash: "/seal-hash.js" } as const;

/** The Cache Storage cache holding them (network first: a fresh copy whenever online). */
export const SEAL_WORKER_CACHE = "pushdrop-seal-workers";
