/**
 * The sealing workers' scripts (web/seal-worker/, built by scripts/build-web.mjs; the CSP's
 * worker-src 'self' allows them), and /seal-aead.js, which /seal-encrypt.js and the service
 * worker load: web/seal/seal-file.ts starts the workers, and the service worker keeps a copy of
 * each script (web/sw/sw.ts) so a page that goes offline before it ever sealed a file still seals
 * in them, not on its own thread at about a quarter of the rate.
 */
export const SEAL_WORKERS = { encrypt: "/seal-encrypt.js", hash: "/seal-hash.js", aead: "/seal-aead.js" } as const;

/** The hash of the scripts' contents, given by scripts/build-web.mjs to the service worker's build. */
declare const __SEAL_WORKERS_VERSION__: string | undefined;

/** Caches of the service worker's copies are named so: one per build of the scripts. */
export const SEAL_WORKER_CACHE_PREFIX = "pushdrop-seal-workers-";

/**
 * The Cache Storage cache holding them (network first: a fresh copy whenever online), named by
 * the scripts' contents: a build that changes them changes sw.js, which the browser then installs
 * again, so an offline page never runs one build's page with another's workers.
 */
export const SEAL_WORKER_CACHE = SEAL_WORKER_CACHE_PREFIX + (typeof __SEAL_WORKERS_VERSION__ !== "undefined" ? __SEAL_WORKERS_VERSION__ : "dev");
