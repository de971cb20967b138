/// <reference lib="webworker" />
import type { PushPayload } from "../../src/contract/messages";
import { noticeFor, type Notice } from "../shared/notice";
import { sealedNotice } from "../shared/notice-sealed";
import type { SwSeal } from "./seal";
import { SEAL_WORKER_CACHE, SEAL_WORKER_CACHE_PREFIX, SEAL_WORKERS } from "../shared/seal-workers";
import { SHARE_CACHE, SHARE_PATH } from "../shared/share";
import { isolate, terminalIdText } from "../i18n/format";
import { SOURCE_LANGUAGE } from "../i18n/languages";
import { t } from "../i18n/runtime";
import { loadWorkerCatalog, precacheCatalog, workerLanguage } from "../i18n/sw-catalog";

/**
 * The service worker (/sw.js, scope /): shows a system notification for each Web Push (a
 * transfer that arrived, a receipt, an end), brings the app to that transfer when the
 * notification is clicked, and receives "Share → pushdrop" (the manifest's share_target POSTs
 * to /share: the shared files and text wait in Cache Storage until the page picks them up).
 * Its sealed part (/sw-seal.js, web/sw/seal.ts) answers `/_sealed/…`, a sealed file's streamed
 * save, and opens a push's seal. It keeps the two sealing workers' scripts (network first, its copy
 * when offline: web/shared/seal-workers.ts) and handles no other request: the app is always loaded
 * from the network.
 * Notifications speak the language the page was last shown in (IndexedDB, web/i18n/prefs.ts),
 * from its catalog in the Cache API (precached on install, web/i18n/sw-catalog.ts).
 */
declare const self: ServiceWorkerGlobalScope & { pushdropSeal?: SwSeal };

// the sealed part (age, this device's keys): its own classic script, loaded at the top level as
// a service worker must; without it the worker still runs, and says only who sent a sealed transfer
try {
  importScripts("/sw-seal.js");
} catch {
  // not built, or not fetched: sealed saves fall back to the page's ways (web/seal/save.ts)
}

self.addEventListener("install", (event) => {
  // the words of a notification must be at hand when a push arrives offline, and the sealing
  // workers when a file is sealed offline
  event.waitUntil(
    (async () => {
      const lang = await workerLanguage();
      await Promise.all([
        precacheCatalog(lang.tag),
        lang.tag === SOURCE_LANGUAGE ? null : precacheCatalog(SOURCE_LANGUAGE),
        caches
          .open(SEAL_WORKER_CACHE)
          .then((c) => c.addAll(Object.values(SEAL_WORKERS)))
          .catch(() => undefined), // offline now: kept the first time a file is sealed online
      ]);
    })()
      .catch(() => undefined)
      .then(() => self.skipWaiting()),
  );
});
self.addEventListener("activate", (event) =>
  event.waitUntil(
    (async () => {
      // copies of the sealing workers from another build go
      for (const name of await caches.keys()) if (name.startsWith(SEAL_WORKER_CACHE_PREFIX) && name !== SEAL_WORKER_CACHE) await caches.delete(name);
    })()
      .catch(() => undefined)
      .then(() => self.clients.claim()),
  ),
);

self.addEventListener("push", (event) => {
  let payload: unknown = null;
  try {
    payload = event.data?.json() ?? null;
  } catch {
    payload = null;
  }
  event.waitUntil(showPush(payload));
});

async function showPush(payload: unknown): Promise<void> {
  let notice: Notice | null = null;
  await loadWorkerCatalog().catch(() => undefined);
  if (isPayload(payload)) {
    let name: string | undefined;
    if (payload.type === "transfer.downloaded") name = await terminalName(payload.by);
    try {
      // a sealed transfer's push may carry its seal: opened here with this device's key, it says what came
      notice =
        payload.type === "transfer.ready" && "seal" in payload && payload.seal
          ? sealedNotice(payload, (await self.pushdropSeal?.openPush(payload)) ?? null)
          : (noticeFor(payload, () => name) ?? null);
    } catch {
      notice = null; // a payload of a newer server we cannot read: say something all the same
    }
  }
  notice ??= { title: t("app.title"), body: t("notice.fallbackBody"), tag: "pushdrop", url: "/", transferId: "" };
  await self.registration.showNotification(notice.title, {
    body: notice.body,
    tag: notice.tag,
    icon: "/icons/icon-192.png",
    badge: "/icons/badge-96.png",
    data: { url: notice.url, transferId: notice.transferId },
  });
  // an open page refreshes what it shows (its socket may be asleep)
  for (const c of await self.clients.matchAll({ type: "window" })) c.postMessage({ type: "pushdrop.push", payload });
}

function isPayload(p: unknown): p is PushPayload {
  return typeof p === "object" && p !== null && typeof (p as { type?: unknown }).type === "string";
}

/** A receipt names the terminal by id only: ask the server for its name (briefly). */
async function terminalName(id: string): Promise<string> {
  try {
    const res = await fetch(`/v1/terminals/${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(3000) });
    if (res.ok) {
      const terminal = (await res.json()) as { name?: string };
      if (terminal.name) return t("notice.nameWithId", { name: isolate(terminal.name), id: terminalIdText(id) });
    }
  } catch {
    // offline or slow: the id will do
  }
  return terminalIdText(id);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = (event.notification.data ?? {}) as { url?: string; transferId?: string };
  const url = new URL(data.url ?? "/", self.location.origin).href;
  const work = (async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const open = windows.find((c) => new URL(c.url).origin === self.location.origin);
    if (open) {
      open.postMessage({ type: "pushdrop.show", transferId: data.transferId ?? "" });
      try {
        await open.focus();
      } catch {
        // focusing needs the click's user activation; the page still shows the transfer
      }
      return;
    }
    await self.clients.openWindow(url);
  })();
  try {
    event.waitUntil(work);
  } catch {
    // an event dispatched by a script (tests) may not be extended; the work runs all the same
  }
});

// ---- share target ------------------------------------------------------------------------

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return;
  if (event.request.method === "POST" && url.pathname === SHARE_PATH) {
    event.respondWith(receiveShare(event.request));
  } else if (event.request.method === "GET" && sealWorkerPaths.has(url.pathname)) {
    event.respondWith(sealWorkerScript(event.request, url.pathname));
  }
});

// ---- the sealing workers' scripts ---------------------------------------------------------

const sealWorkerPaths = new Set<string>(Object.values(SEAL_WORKERS));

/** A sealing worker's script: from the network (and kept), or the kept copy when the network fails. */
async function sealWorkerScript(request: Request, path: string): Promise<Response> {
  const cache = await caches.open(SEAL_WORKER_CACHE);
  try {
    const res = await fetch(request);
    if (res.ok) await cache.put(path, res.clone()).catch(() => undefined);
    return res;
  } catch (e) {
    const kept = await cache.match(path);
    if (kept) return kept;
    throw e;
  }
}

async function receiveShare(request: Request): Promise<Response> {
  try {
    const form = await request.formData();
    const files = form.getAll("files").filter((f): f is File => typeof f !== "string");
    const parts: string[] = [];
    for (const key of ["title", "text", "url"]) {
      const v = form.get(key);
      if (typeof v === "string" && v.trim() && !parts.some((p) => p.includes(v.trim()))) parts.push(v.trim());
    }
    const key = crypto.randomUUID();
    const cache = await caches.open(SHARE_CACHE);
    await Promise.all(
      files.map((f, i) => cache.put(`/_share/${key}/${i}`, new Response(f, { headers: { "content-type": f.type || "application/octet-stream" } }))),
    );
    await cache.put(
      `/_share/${key}/meta`,
      new Response(JSON.stringify({ text: parts.join("\n"), files: files.map((f) => ({ name: f.name, type: f.type })) }), {
        headers: { "content-type": "application/json" },
      }),
    );
    return Response.redirect(`/?share=${key}`, 303);
  } catch {
    return Response.redirect("/?share=failed", 303);
  }
}
