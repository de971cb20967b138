// The service worker's side of the languages (web/i18n/sw-catalog.ts), run in Node with a
// Cache API kept in a Map and a fetch that can be cut: the language comes from the worker's
// languages when IndexedDB has nothing (here there is no IndexedDB: as in a browser that
// refuses it), its catalog is fetched once and then served from the cache, also offline;
// English when the language's catalog cannot be had; keys, never blanks, when nothing can.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compiledCatalog, readCatalogs } from "../../scripts/i18n.mjs";
import { t } from "../../web/i18n/runtime";

// imported by a path held in a variable, so that this Node-typed test does not typecheck the
// worker's module against Node's types (it uses IndexedDB and worker globals; its own tsconfig,
// web/i18n/tsconfig.sw.json, checks it with WebWorker types)
const SW_CATALOG = new URL("../../web/i18n/sw-catalog.ts", import.meta.url).pathname;
const { I18N_CACHE, loadWorkerCatalog } = (await import(/* @vite-ignore */ SW_CATALOG)) as {
  I18N_CACHE: string;
  loadWorkerCatalog(nav: { languages: string[] }, available: string[]): Promise<{ tag: string; dir: "ltr" | "rtl" }>;
};

const catalogs = readCatalogs();
const TAGS = Object.keys(catalogs);
const served = (tag: string) => JSON.stringify(compiledCatalog(catalogs, tag));

let online = true;
let requests: string[] = [];
let stores: Map<string, Map<string, Response>>;
let available: Set<string>;

beforeEach(() => {
  online = true;
  requests = [];
  stores = new Map();
  available = new Set(TAGS);
  const g = globalThis as Record<string, unknown>;
  g.caches = {
    async open(name: string) {
      if (!stores.has(name)) stores.set(name, new Map());
      const store = stores.get(name)!;
      return {
        async match(url: string) {
          return store.get(url)?.clone();
        },
        async put(url: string, res: Response) {
          store.set(url, res);
        },
      };
    },
  };
  g.fetch = async (url: string) => {
    requests.push(url);
    if (!online) throw new TypeError("Failed to fetch");
    const tag = /^\/i18n\/(.+)\.json$/.exec(url)?.[1];
    if (!tag || !available.has(tag)) return new Response("not found", { status: 404 });
    return new Response(served(tag), { headers: { "content-type": "application/json" } });
  };
});

afterEach(() => {
  delete (globalThis as Record<string, unknown>).caches;
});

describe("the service worker's catalog", () => {
  it("takes the worker's languages (ar-EG → ar), fetches the catalog once, then serves it from the cache, offline too", async () => {
    const lang = await loadWorkerCatalog({ languages: ["ar-EG", "en"] }, TAGS);
    expect(lang).toEqual({ tag: "ar", dir: "rtl" });
    expect(t("notice.deliveredTitle")).toBe("تم التسليم");
    expect(requests).toEqual(["/i18n/ar.json"]);
    expect([...stores.get(I18N_CACHE)!.keys()]).toEqual(["/i18n/ar.json"]);

    online = false;
    const again = await loadWorkerCatalog({ languages: ["ar-EG"] }, TAGS);
    expect(again.tag).toBe("ar");
    expect(t("notice.sentFiles", { from: "Ana", count: 3 })).toBe("أرسل إليك Ana 3 ملفات");
  });

  it("English when the language's catalog cannot be had; keys, not blanks, when English cannot be either", async () => {
    available.delete("de");
    const lang = await loadWorkerCatalog({ languages: ["de-DE"] }, TAGS);
    expect(lang.tag).toBe("en");
    expect(t("notice.deliveredTitle")).toBe("Delivered");

    stores.clear();
    online = false;
    const none = await loadWorkerCatalog({ languages: ["ja"] }, TAGS);
    expect(none.tag).toBe("en");
    expect(t("notice.deliveredTitle")).toBe("notice.deliveredTitle");
  });

  it("a language with no catalog (zh-TW) is English, fetched as English", async () => {
    const lang = await loadWorkerCatalog({ languages: ["zh-TW"] }, TAGS);
    expect(lang.tag).toBe("en");
    expect(requests).toEqual(["/i18n/en.json"]);
  });
});
