import type { PushPayload } from "../../src/contract/messages";
import { formatList, formatSize, formatTerminalIdAscii, isolate, terminalIdText } from "../i18n/format";
import { currentLanguage, t } from "../i18n/runtime";

/**
 * What a system notification says about a live-channel message or a Web Push payload (the
 * service worker's push handler, and the page itself when a transfer arrives while it is
 * hidden), in the language whose catalog is current (the page's, or the one the service worker
 * loaded by sw-catalog.ts). Shared by the page and the service worker.
 */
export interface Notice {
  title: string;
  body: string;
  /** one notification per transfer: a newer one about it replaces the older */
  tag: string;
  /** what a click opens */
  url: string;
  transferId: string;
}

/**
 * A name or a file name in a notification: isolated (FSI … PDI) where its direction could
 * disturb the sentence: in a right-to-left language, or a right-to-left name in any language.
 * A Latin name in a left-to-right sentence needs nothing, and some systems draw the isolate
 * marks as boxes, so it gets none.
 */
const RTL_CHAR = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/;
const bidi = (s: string): string => (currentLanguage().dir === "rtl" || RTL_CHAR.test(s) ? isolate(s) : s);
const idBidi = (id: string): string => (currentLanguage().dir === "rtl" ? terminalIdText(id) : formatTerminalIdAscii(id));

const transferUrl = (transferId: string) => `/?transfer=${encodeURIComponent(transferId)}`;

/** "a.jpg, b.pdf and 3 more", in the current language (names isolated: a Latin name in Arabic text keeps its order). */
export function listNames(names: readonly string[], count = names.length, shown = 3): string {
  const locale = currentLanguage().tag;
  const first = names.slice(0, shown).map(bidi);
  const more = count - first.length;
  if (more <= 0) return formatList(first, locale);
  return t("notice.namesMore", { names: formatList(first, locale, "unit"), more });
}

export const firstLine = (s: string, max = 140) => {
  const line = s.trim().split(/\r?\n/)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

/** Who sent a transfer, as a notification names them. */
export function senderOf(p: Extract<PushPayload, { type: "transfer.ready" }>): string {
  const sender = "summary" in p ? p.from : p.transfer.from;
  return sender.name ? bidi(sender.name) : idBidi(sender.id);
}

/** `nameOf(id)` names a terminal when the caller knows it (a receipt carries only the id). */
export function noticeFor(p: PushPayload, nameOf: (id: string) => string | undefined = () => undefined): Notice {
  switch (p.type) {
    case "transfer.ready": {
      const from = senderOf(p);
      const transferId = "summary" in p ? p.transferId : p.transfer.id;
      // sealed (v1.2): its names are `1.age`… and its message is inside the seal: only who sent it
      if ("summary" in p ? p.sealed : p.transfer.sealed) return { title: t("open.pushFrom", { from }), body: "", tag: transferId, url: transferUrl(transferId), transferId };
      const count = "summary" in p ? p.files.count : p.transfer.files.length;
      const size = "summary" in p ? p.files.size : p.transfer.size;
      const names = "summary" in p ? p.files.names : p.transfer.files.map((f) => f.name);
      const message = "summary" in p ? p.message : p.transfer.message;
      const lines: string[] = [];
      if (count > 0) lines.push(t("notice.filesLine", { names: listNames(names, count), size: formatSize(size, currentLanguage().tag) }));
      if (message) lines.push(firstLine(message));
      return {
        title: count > 0 ? t("notice.sentFiles", { from, count }) : t("notice.sentMessage", { from }),
        body: lines.join("\n"),
        tag: transferId,
        url: transferUrl(transferId),
        transferId,
      };
    }
    case "transfer.downloaded": {
      const who = nameOf(p.by) ?? idBidi(p.by);
      return { title: t("notice.deliveredTitle"), body: t("notice.deliveredBody", { name: who }), tag: `${p.transferId}.${p.by}`, url: transferUrl(p.transferId), transferId: p.transferId };
    }
    case "transfer.opened": {
      const who = nameOf(p.by) ?? idBidi(p.by);
      return { title: t("notice.openedTitle"), body: t("notice.openedBody", { name: who }), tag: `${p.transfer.id}.${p.by}.opened`, url: transferUrl(p.transfer.id), transferId: p.transfer.id };
    }
    case "transfer.expired":
      return { title: t("notice.expiredTitle"), body: t("notice.expiredBody"), tag: p.transferId, url: transferUrl(p.transferId), transferId: p.transferId };
    case "transfer.cancelled":
      return { title: t("notice.cancelledTitle"), body: t("notice.cancelledBody"), tag: p.transferId, url: transferUrl(p.transferId), transferId: p.transferId };
    case "transfer.failed":
      return { title: t("notice.failedTitle"), body: p.reason || t("sent.failedUnknown"), tag: p.transferId, url: transferUrl(p.transferId), transferId: p.transferId };
  }
}
