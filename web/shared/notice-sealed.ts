import type { PushPayload } from "../../src/contract/messages";
import { cleanName } from "../../src/contract/names";
import type { SealDocument } from "../../src/contract/seal";
import { DEFAULT_TYPE, guessType } from "../../src/package/mime";
import { formatSize } from "../i18n/format";
import { currentLanguage, t } from "../i18n/runtime";
import { firstLine, listNames, noticeFor, senderOf, type Notice } from "./notice";

/**
 * What a notification says of a sealed transfer whose seal this device opened (the service
 * worker, from a push's `seal`): "Anna: 2 photos", the real names and size, the message's first
 * line. Without an opened seal it is noticeFor's "A sealed transfer from Anna". Not in the app's
 * first load: only the service worker imports it.
 */
export function sealedNotice(p: Extract<PushPayload, { type: "transfer.ready" }>, doc: SealDocument | null): Notice {
  const base = noticeFor(p);
  if (!doc) return base;
  const from = senderOf(p);
  const count = doc.files.length;
  // the sender's type, else the server's guess from the name (the CLI seals every type as application/octet-stream)
  const typeOf = (f: SealDocument["files"][number]) => (f.type && f.type !== DEFAULT_TYPE ? f.type : guessType(cleanName(f.name)));
  const all = (prefix: string) => count > 0 && doc.files.every((f) => typeOf(f).startsWith(prefix));
  const title =
    count === 0
      ? t("open.pushMessage", { from })
      : t(all("image/") ? "open.pushPhotos" : all("video/") ? "open.pushVideos" : "open.pushFiles", { from, count });
  const lines: string[] = [];
  const size = doc.files.reduce((n, f) => n + f.size, 0);
  if (count > 0) lines.push(t("notice.filesLine", { names: listNames(doc.files.map((f) => cleanName(f.name)), count), size: formatSize(size, currentLanguage().tag) }));
  if (doc.message) lines.push(firstLine(doc.message));
  return { ...base, title, body: lines.join("\n") };
}
