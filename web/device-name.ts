import type { Kit } from "./kit";

/**
 * The name a new device gets on its first visit (a lazy chunk: only a first visit needs it):
 * the model where the browser says one, else the kind of device, numbered when this browser
 * already remembers a device of that name.
 */
export async function firstName(kit: Kit): Promise<string> {
  return distinctName(await deviceKind(kit.t), kit.store.loadContacts().map((c) => c.name));
}

/** What kind of device this is, by the browser's word: a model where it says one ("Pixel 8"). */
async function deviceKind(t: Kit["t"]): Promise<string> {
  const ua = navigator.userAgent;
  const data = (navigator as Navigator & { userAgentData?: { getHighEntropyValues(h: string[]): Promise<{ model?: string }> } }).userAgentData;
  let model = "";
  try {
    model = (await data?.getHighEntropyValues(["model"]))?.model ?? "";
  } catch {
    // not said
  }
  // (Chrome reduces the user agent string to "Android 10; K": a one-letter model says nothing)
  model ||= /Android [\d.]+; (?:[a-z]{2}[-_][a-z]{2}; )?([^;)]{2,40}?)(?: Build\/[^;)]*)?\)/i.exec(ua)?.[1]?.trim() ?? "";
  if (model && model.length > 1 && !/^(K|wv|Mobile|Linux)$/i.test(model)) return model;
  if (/iPhone/.test(ua)) return t("device.iphone");
  if (/iPad/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return t("device.ipad");
  if (/Android/.test(ua)) return /Mobile/.test(ua) ? t("device.androidPhone") : t("device.androidTablet");
  if (/CrOS/.test(ua)) return t("device.chromebook");
  if (/Mac OS X/.test(ua)) return t("device.mac");
  if (/Windows/.test(ua)) return t("device.windows");
  if (/Linux/.test(ua)) return t("device.linux");
  return t("device.browser");
}

/** A name none of the devices this browser remembers has: "Android phone 2" beside an "Android phone". */
export function distinctName(kind: string, taken: readonly string[]): string {
  const names = new Set(taken.map((n) => n.trim().toLowerCase()));
  if (!names.has(kind.toLowerCase())) return kind;
  for (let n = 2; ; n++) if (!names.has(`${kind} ${n}`.toLowerCase())) return `${kind} ${n}`;
}

