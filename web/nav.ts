import { $, show } from "./dom";
import { formatNumber } from "./i18n/format";
import { currentLanguage, t } from "./i18n/runtime";

/**
 * The three screens (Received, Send, This device) and the tab bar that switches them: at the
 * bottom of a phone, in the header of a wide screen (where all three sit side by side and a
 * tab brings its part into view). Also what tells the person something arrived while they
 * look elsewhere: the unread count (on the tab, in the title, on the app's icon) and a toast.
 */
export type Screen = "received" | "send" | "device";
export const SCREENS: readonly Screen[] = ["received", "send", "device"];

const WORDS = {
  get title() { return t("app.title"); },
  unreadTitle: (n: number) => t("app.titleUnseen", { count: n }),
  unread: (n: number) => t("app.unread", { count: n }),
};

let current: Screen = "received";
const listeners: Array<(s: Screen) => void> = [];

/** A wide screen shows all three parts at once (the CSS breakpoint, in one place for scripts). */
export const wide = () => matchMedia("(min-width: 900px)").matches;

/** Whether an element is laid out (its screen is showing, it is not hidden). */
export const isShown = (el: Element) => el.getClientRects().length > 0;

export const currentScreen = () => current;
export const onScreen = (f: (s: Screen) => void) => void listeners.push(f);

export function screenOf(hash: string): Screen | null {
  const s = hash.replace(/^#/, "");
  return (SCREENS as readonly string[]).includes(s) ? (s as Screen) : null;
}

/** Shows a screen; `focus` moves keyboard focus to its heading (a tab was chosen). */
export function go(screen: Screen, opts: { focus?: boolean } = {}): void {
  current = screen;
  $("main").dataset.screen = screen;
  for (const a of document.querySelectorAll<HTMLAnchorElement>(".tabs a")) {
    if (a.dataset.screen === screen) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const hash = screen === "received" ? "" : `#${screen}`;
  if (location.hash !== hash) history.replaceState(history.state, "", `${location.pathname}${location.search}${hash}`);
  const section = $(screen);
  if (wide()) {
    if (opts.focus) section.scrollIntoView({ block: "start", behavior: "smooth" });
  } else window.scrollTo(0, 0);
  if (opts.focus) section.querySelector<HTMLElement>("h2")?.focus({ preventScroll: true });
  for (const f of listeners) f(screen);
}

export function wireNav(): void {
  for (const a of document.querySelectorAll<HTMLAnchorElement>(".tabs a")) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      go(a.dataset.screen as Screen, { focus: true });
    });
  }
  window.addEventListener("hashchange", () => {
    const s = screenOf(location.hash);
    if (s) go(s);
  });
  $("toast-close").addEventListener("click", () => hideToast(true));
}

/** The unread count: on the Received tab, in the document's title, and on the app's icon where the browser can. */
export function setUnread(n: number): void {
  const badge = $("unread");
  badge.textContent = n > 99 ? t("app.unreadMany", { count: 99 }) : formatNumber(n, currentLanguage().tag);
  show(badge, n > 0);
  $("unread-text").textContent = n > 0 ? WORDS.unread(n) : "";
  document.title = n > 0 ? WORDS.unreadTitle(n) : WORDS.title;
  const nav = navigator as Navigator & { setAppBadge?: (n: number) => Promise<void>; clearAppBadge?: () => Promise<void> };
  try {
    if (n > 0) void nav.setAppBadge?.(n).catch(() => {});
    else void nav.clearAppBadge?.().catch(() => {});
  } catch {
    // no badge here
  }
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;
let toastAction: (() => void) | null = null;

/**
 * A toast over whatever screen is showing: what arrived, and *Show*, which opens it. It never
 * takes focus (the person may be typing); it goes by itself after a while unless focus or the
 * pointer is on it.
 */
export function toast(text: string, open: () => void): void {
  const box = $("toast");
  $("toast-text").textContent = text;
  toastAction = open;
  const button = $<HTMLButtonElement>("toast-open");
  button.onclick = () => {
    const run = toastAction;
    hideToast(true);
    run?.();
  };
  show(box, true);
  clearTimeout(toastTimer);
  const later = () => {
    toastTimer = setTimeout(() => (box.matches(":focus-within, :hover") ? later() : hideToast(false)), 10_000);
  };
  later();
}

/** Hides the toast; when it had focus, focus goes to the main area rather than being lost. */
export function hideToast(fromToast: boolean): void {
  const box = $("toast");
  if (box.hidden) return;
  const hadFocus = box.contains(document.activeElement);
  show(box, false);
  toastAction = null;
  clearTimeout(toastTimer);
  if (hadFocus && fromToast) $("main").focus({ preventScroll: true });
}
