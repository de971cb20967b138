import { formatBytes } from "../../client/rate";
import type { PushPayload } from "../../src/contract/messages";
import { formatTerminalId } from "../../src/contract/ids";

/**
 * What a system notification says about a live-channel message or a Web Push payload (the
 * service worker's push handler, and the page itself when a transfer arrives while it is
 * hidden). Pure: shared by the page and the service worker.
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

const transferUrl = (transferId: string) => `/?transfer=${encodeURIComponent(transferId)}`;

/** "a.jpg, b.pdf and 3 more" */
function listNames(names: readonly string[], count = names.length, shown = 3): string {
  const first = names.slice(0, shown);
  const more = count - first.length;
  if (more <= 0) return first.length > 1 ? `${first.slice(0, -1).join(", ")} and ${first.at(-1)}` : (first[0] ?? "");
  return `${first.join(", ")} and ${more} more`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const firstLine = (s: string, max = 140) => {
  const line = s.trim().split(/\r?\n/)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

/** `nameOf(id)` names a terminal when the caller knows it (a receipt carries only the id). */
export function noticeFor(p: PushPayload, nameOf: (id: string) => string | undefined = () => undefined): Notice {
  switch (p.type) {
    case "transfer.ready": {
      const sender = "summary" in p ? p.from : p.transfer.from;
      const from = sender.name || formatTerminalId(sender.id);
      const transferId = "summary" in p ? p.transferId : p.transfer.id;
      const count = "summary" in p ? p.files.count : p.transfer.files.length;
      const size = "summary" in p ? p.files.size : p.transfer.size;
      const names = "summary" in p ? p.files.names : p.transfer.files.map((f) => f.name);
      const message = "summary" in p ? p.message : p.transfer.message;
      const lines: string[] = [];
      if (count > 0) lines.push(`${listNames(names, count)} · ${formatBytes(size)}`);
      if (message) lines.push(firstLine(message));
      return {
        title: count > 0 ? `${from} sent you ${plural(count, "file")}` : `${from} sent you a message`,
        body: lines.join("\n"),
        tag: transferId,
        url: transferUrl(transferId),
        transferId,
      };
    }
    case "transfer.downloaded": {
      const who = nameOf(p.by) ?? formatTerminalId(p.by);
      return { title: "Delivered", body: `${who} has what you sent.`, tag: `${p.transferId}.${p.by}`, url: transferUrl(p.transferId), transferId: p.transferId };
    }
    case "transfer.opened": {
      const who = nameOf(p.by) ?? formatTerminalId(p.by);
      return { title: "Opened", body: `${who} opened what you sent.`, tag: `${p.transfer.id}.${p.by}.opened`, url: transferUrl(p.transfer.id), transferId: p.transfer.id };
    }
    case "transfer.expired":
      return { title: "A transfer expired", body: "Its files are no longer available.", tag: p.transferId, url: transferUrl(p.transferId), transferId: p.transferId };
    case "transfer.cancelled":
      return { title: "A transfer was cancelled", body: "The sender took it back.", tag: p.transferId, url: transferUrl(p.transferId), transferId: p.transferId };
    case "transfer.failed":
      return { title: "Sending failed", body: p.reason, tag: p.transferId, url: transferUrl(p.transferId), transferId: p.transferId };
  }
}
