import type { PushPayload, ServerMessage, Transfer } from "../src/contract";
import { $, announce, show } from "./dom";
import { plainError } from "./errors";
import { currentScreen, go, hideToast, isShown, onScreen, setUnread, toast } from "./nav";
import { Inbox } from "./received-list";
import { noticeFor } from "./shared/notice";
import { app } from "./state";
import * as store from "./store";

/**
 * The Received screen: the live inbox, and what makes an arrival seen. A transfer counts as
 * read (and the server is told, `POST …/opened`, so the sender sees *Opened*) only once it was
 * really shown: its card at least half in view, on the Received screen, in a visible page.
 * Until then it is counted on the tab, in the title and on the app's icon, and a toast offers it.
 */
import { t as tr } from "./i18n/runtime";

const WORDS = {
  loadFailed: (why: string) => tr("received.loadFailed", { error: why }),
  arrived: (title: string) => title,
};

const read = store.loadOpened();
/** ids whose card is in view (by the IntersectionObserver), read once the page and screen are showing too */
const inView = new Set<string>();
/** opened here, not yet told to the server (offline): told on the next connection */
const untold = new Set<string>();

export const inbox = new Inbox($<HTMLUListElement>("inbox"), $("inbox-empty"), {
  blocking: () => {
    const s = app.settings;
    return s?.data && app.device ? { self: app.device.id, blocked: (id) => s.data!.blocked.some((b) => b.id === id), block: (from) => s.block(from.id, from.name) } : null;
  },
  self: () => app.device?.id ?? null,
  isRead: (t) => isRead(t),
  mounted: (_id, el) => observer?.observe(el),
  downloading: (id) => followDownload(id),
});

function isRead(t: Transfer): boolean {
  if (read.has(t.id)) return true;
  const mine = t.recipients.find((r) => r.id === app.device?.id);
  // a text's downloadedAt is set by this device's ack (it has the message), not by a person
  // looking: only files downloaded say the person has seen it. So is a sealed text's (seal.age
  // alone: its fetch counts for nothing, the ack is its download; a sealed transfer's last file
  // is its seal.age)
  const files = t.files.length - (t.sealed ? 1 : 0);
  return Boolean(mine?.openedAt || (files > 0 && mine?.downloadedAt));
}

const observer =
  typeof IntersectionObserver === "function"
    ? new IntersectionObserver(
        (records) => {
          for (const r of records) {
            const id = r.target.id.replace(/^t-/, "");
            // half of the card, or half of the screen for a card taller than it (twenty files)
            const half = r.intersectionRatio >= 0.5 || (r.rootBounds !== null && r.intersectionRect.height >= r.rootBounds.height / 2);
            if (r.isIntersecting && half) inView.add(id);
            else inView.delete(id);
          }
          markSeen();
        },
        { threshold: [0, 0.1, 0.25, 0.5, 0.75, 1] },
      )
    : null;

/** Marks read what is showing now; counts the rest. */
function markSeen(): void {
  const showing = document.visibilityState === "visible" && isShown($("received"));
  if (showing) {
    for (const id of inView) {
      const t = inbox.get(id);
      if (!t || isRead(t)) continue;
      read.add(id);
      store.markOpened(id);
      inbox.markRead(id);
      untold.add(id);
    }
    void tellOpened();
  }
  const unread = inbox.unread();
  setUnread(unread.length);
  if (unread.length === 0) hideToast(false);
}

async function tellOpened(): Promise<void> {
  for (const id of [...untold]) {
    try {
      await app.client.opened(id);
      untold.delete(id);
    } catch (e) {
      // a server without the endpoint (older than v1.2), or a transfer gone: nothing to tell
      const status = (e as { status?: number }).status;
      if (status !== undefined && status >= 400 && status < 500) untold.delete(id);
    }
  }
}

/** After a download link was used: ask a few times what the server counted, so the card can say it. */
function followDownload(id: string): void {
  let wait = 1500;
  const check = async () => {
    try {
      const t = await app.client.transfer(id);
      inbox.add(t, false);
      if (t.recipients.find((r) => r.id === app.device?.id)?.downloadedAt) return;
    } catch {
      return;
    }
    wait *= 2;
    if (wait <= 24_000) setTimeout(check, wait);
  };
  setTimeout(check, wait);
}

/** A transfer.ready from the live channel (acknowledged by the caller: the device has it). */
export function arrived(msg: Extract<ServerMessage, { type: "transfer.ready" }>): void {
  const t = msg.transfer;
  const fresh = !inbox.has(t.id);
  inbox.add(t, true);
  if (!fresh) return;
  const notice = noticeFor(msg);
  announce(WORDS.arrived(notice.title));
  markSeen();
  if (!isRead(t)) {
    toast(notice.title, () => void showTransfer(t.id));
    if (document.visibilityState !== "visible") void notifyHidden(msg);
  }
}

/** The page is open but hidden (another tab, the phone's other app): tell the person anyway. */
async function notifyHidden(msg: PushPayload): Promise<void> {
  if ("Notification" in window && Notification.permission === "granted") void import("./received-tools").then((m) => m.notify(noticeFor(msg)));
}

export function ended(id: string, kind: "expired" | "cancelled"): void {
  inbox.end(id, kind);
  markSeen();
}

export async function loadInbox(): Promise<void> {
  if (!app.device) return;
  try {
    inbox.load(await app.client.inbox(app.device.id));
    show($("inbox-error"), false);
  } catch (e) {
    const box = $("inbox-error");
    box.textContent = WORDS.loadFailed(plainError(e));
    show(box, true);
  }
  markSeen();
}

/** Brings one transfer into view (a toast's Show, a notification click, ?transfer=). */
export async function showTransfer(id: string): Promise<boolean> {
  if (!id) return false;
  if (!inbox.has(id)) {
    try {
      const t: Transfer = await app.client.transfer(id);
      if (!t.to.includes(app.device?.id ?? "")) return false;
      inbox.add(t, true);
    } catch {
      return false; // gone, or not ours: nothing to show
    }
  }
  if (currentScreen() !== "received") go("received");
  inbox.focus(id);
  markSeen();
  return true;
}

export function isEmpty(): boolean {
  return inbox.unread().length === 0 && !document.querySelector("#inbox > li");
}

export function wireReceived(): void {
  document.addEventListener("visibilitychange", markSeen);
  onScreen(() => markSeen());
  window.addEventListener("resize", markSeen);
}

/** On each (re)connection: openings made offline reach the server. */
export const flushOpened = () => void tellOpened();
