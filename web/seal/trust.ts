import { acceptKey, decideTrust, fingerprint, formatDigits, safetyNumber, type TrustDecision } from "../../client/seal";
import type { Kit } from "../kit";
import type { KeyPin } from "../store";
import { hasSpool, MEMORY_LIMIT } from "./spool";

/**
 * Whose key the Send form seals to (issue 23, "Trust"), with client/seal's decideTrust: a key
 * is pinned per contact in localStorage (store.ts) on first use, from a share link
 * (`/?to=<id>#k=age1…`: pinned; a link key the server does not publish is refused; one that is
 * not the pinned key is a key change, never a re-pin), or from a scanned QR code (verified).
 * Each recipient shows a row under the Recipient field: sealed to its pinned key (with its
 * 60-digit safety number one tap away, and *They match* to mark it verified), no key (a
 * curl-only terminal: the Sealed switch cannot seal to it), or a key change, which blocks
 * sealing until the person accepts the new key (a verified contact: until verified again).
 * A refused link's key is kept for the contact (store.ts, "refused"): while nothing is pinned
 * for it, the key the server publishes is not trusted on first use (the refusal is evidence it
 * may not be the contact's), until its safety number is compared (*They match*) or a link or
 * scanned code carries that key; any pin made here replaces the kept refusal.
 * A lazy chunk: it uses the shell through `kit`.
 */

type Row = { id: string; name: string | null; pinned: KeyPin | null; published: string | null; d: TrustDecision };

/** What a share link or a scanned code said that could not be pinned, shown on this page until a key is pinned (the refused key itself is kept: store.ts). */
const refusedLinks = new Map<string, string>();
/** Rows whose safety number is shown. */
const open = new Set<string>();
let seq = 0;

async function published(kit: Kit, id: string): Promise<{ name: string | null; key: string | null } | null> {
  try {
    const t = await kit.app.client.lookup(id);
    return { name: t.name, key: t.key ?? null };
  } catch (e) {
    if ((e as { status?: number }).status === 404) return null; // (no ApiError import: it would split the shell)
    throw e;
  }
}

/** What the server published for each id when this page last asked: offline, a key change seen then still blocks sealing, and its row stays. */
const seen = new Map<string, { name: string | null; key: string | null }>();

async function rowOf(kit: Kit, id: string): Promise<Row | null> {
  const p = await published(kit, id);
  if (p) seen.set(id, p);
  return p && rowFrom(kit, id, p);
}

const pinOf = (kit: Kit, id: string) => kit.store.loadFor("pins")[id] ?? null;
const refusedOf = (kit: Kit, id: string) => kit.store.loadFor("refused")[id] ?? null;

function rowFrom(kit: Kit, id: string, p: { name: string | null; key: string | null }): Row {
  const pinned = pinOf(kit, id);
  return { id, name: p.name, pinned, published: p.key, d: decideTrust({ pinned, published: p.key, refused: refusedOf(kit, id) }) };
}

/** This device's own key (for safety numbers), or null when it has none it can use. */
async function myKey(kit: Kit): Promise<string | null> {
  const s = await kit.app.deviceKey?.catch(() => null);
  return s && s.kind !== "no_storage" ? s.key.recipient : null;
}

/** Pins `key` for `id`; a refused link kept for it goes, and its line on this page (a pin decides from now on). */
function pin(kit: Kit, id: string, key: string, verified: boolean): void {
  kit.store.saveFor("pins", id, { key, verified, at: Date.now() });
  if (refusedOf(kit, id)) kit.store.saveFor("refused", id, null);
  refusedLinks.delete(id);
}

/** A recipient as the rows and refusals name it: its published name, else its id. */
const named = (kit: Kit, r: Row) => (r.name ? kit.bidi(r.name) : kit.idText(r.id));

/**
 * A share link's or a scanned QR code's key for `id` (app.ts passes the link's `#k=`): pinned
 * (verified when scanned), refused when the server publishes another (and the refusal kept for
 * the contact), a key change when another is pinned. A scanned code of a changed key is the new
 * key verified in person: it is accepted.
 */
export async function fromLink(kit: Kit, id: string, key: string, scanned: boolean): Promise<void> {
  refusedLinks.delete(id);
  let p: Awaited<ReturnType<typeof published>>;
  try {
    p = await published(kit, id);
  } catch {
    return; // the server cannot be asked now: nothing pinned; the row says what it finds later
  }
  if (!p) return;
  const d = decideTrust({ pinned: pinOf(kit, id), published: p.key, link: { key, scanned } });
  if (d.kind === "seal") pin(kit, id, d.pin.key, d.pin.verified);
  else if (d.kind === "link_refused") {
    kit.store.saveFor("refused", id, key);
    refusedLinks.set(id, kit.t(scanned ? "trust.scanRefused" : "trust.linkRefused", { id: kit.idText(id) }));
  }
  else if (d.kind === "key_changed" && scanned && d.published) pin(kit, id, d.published, true);
}

/** The rows under the Recipient field for these ids (none: hidden). */
export async function showRecipients(kit: Kit, ids: readonly string[]): Promise<void> {
  const mine = ++seq;
  let rows: Array<Row | null>;
  try {
    rows = await Promise.all(ids.map((id) => rowOf(kit, id)));
    // (the sealed send's chunk, ready for a send made after the connection drops)
    void import("./send-sealed").catch(() => undefined);
  } catch {
    // no connection: only what blocks sealing, as this page last saw it (nothing else is known)
    rows = ids.map((id) => {
      const p = seen.get(id);
      const r = p && rowFrom(kit, id, p);
      return r && r.d.kind !== "seal" ? r : null;
    });
  }
  if (mine !== seq) return;
  sealedByDefault(kit, ids, !rows.some((r) => r?.d.kind === "no_key"));
  const me = rows.length ? await myKey(kit) : null;
  const list = kit.$<HTMLUListElement>("seal-who");
  const items = rows.filter((r): r is Row => r !== null).map((r) => rowView(kit, r, me, ids));
  // without a spool, a sealed send lives in this page's memory: said before it starts
  if (items.length && !hasSpool()) items.unshift(kit.h("li", { class: "trust warn" }, kit.h("p", null, kit.t("seal.memory", { size: kit.size(MEMORY_LIMIT) }))));
  kit.fill(list, items);
  kit.show(list, items.length > 0);
}

/** How this default last left the Sealed switch (null: as the page made it). */
let leftAs: boolean | null = null;
/** The recipients shown when the person set the switch themselves ("": before any; null: not set since). */
let chosenFor: string | null = null;
let shownFor = "";

/**
 * The Sealed switch's default (api.md: "checked by default when every recipient has a key"): on
 * while every recipient has a key, off once one has none (a terminal that never published one,
 * and none pinned here: a pinned contact whose key is gone is a key change, never a reason to send
 * in the clear). The switch in another state than this default left it was set by the person:
 * that stands while the recipients stay the same (set before any recipient: for all of them);
 * sealing to a recipient without a key is still refused in words (keysFor).
 */
function sealedByDefault(kit: Kit, ids: readonly string[], on: boolean): void {
  const sw = kit.$<HTMLInputElement>("sealed");
  if (sw.checked !== (leftAs ?? sw.defaultChecked)) {
    chosenFor = shownFor;
    leftAs = sw.checked;
  }
  shownFor = [...ids].sort().join(",");
  if (chosenFor !== null && (chosenFor === "" || chosenFor === shownFor)) return;
  chosenFor = null;
  leftAs = on;
  if (sw.checked === on) return;
  sw.checked = on;
  sw.dispatchEvent(new Event("change")); // (the hint under it follows)
}

function rowView(kit: Kit, r: Row, me: string | null, ids: readonly string[]): HTMLLIElement {
  const { h, t } = kit;
  const who = named(kit, r);
  const refresh = () => void showRecipients(kit, ids);
  const buttons: HTMLElement[] = [];
  let words: string;
  let cls = "ok";
  const d = r.d;
  // the key whose safety number can be compared: the pinned one, or a changed one being checked
  let compare: string | null = null;
  if (d.kind === "seal") {
    words = t(d.pin.verified ? "trust.verified" : r.pinned ? "trust.pinned" : "trust.firstUse", { name: who });
    compare = d.pin.key;
  } else if (d.kind === "no_key") {
    words = t("trust.noKey", { name: who });
    cls = "warn";
  } else if (d.kind === "key_changed") {
    cls = "error";
    if (d.published === null) words = t("trust.keyGone", { name: who });
    else {
      words = t(d.reverify ? "trust.changedVerified" : "trust.changed", { name: who });
      compare = d.published;
      if (!d.reverify)
        buttons.push(
          h("button", {
            type: "button",
            onclick: () => {
              const next = acceptKey(d);
              if (next) pin(kit, r.id, next.key, next.verified);
              kit.announce(t("trust.accepted", { name: who }));
              refresh();
            },
          }, t("trust.accept")),
        );
    }
  } else if (d.kind === "link_refused") {
    // a link refused earlier, nothing pinned: the published key is verified, or nothing is sealed
    words = t("trust.linkDiffers", { name: who });
    cls = "error";
    compare = d.published;
  } else {
    words = t("trust.badKey", { name: who });
    cls = "error";
  }
  const refused = refusedLinks.get(r.id);
  const number = compare && me ? formatDigits(safetyNumber({ id: kit.app.device!.id, key: me }, { id: r.id, key: compare })) : null;
  const shown = number !== null && open.has(r.id);
  if (number) {
    buttons.push(
      h("button", {
        type: "button",
        class: "quiet",
        "aria-expanded": String(shown),
        onclick: () => {
          if (open.has(r.id)) open.delete(r.id);
          else open.add(r.id);
          refresh();
        },
      }, t("trust.safetyNumber")),
    );
  }
  const verifiedNow = d.kind === "seal" && d.pin.verified;
  return h(
    "li",
    { class: `trust ${cls}` },
    refused ? h("p", { class: "error" }, refused) : null,
    h("p", null, words),
    shown
      ? h(
          "div",
          { class: "safety" },
          h("p", { class: "hint" }, t("trust.compare", { name: who })),
          h("p", { class: "fp", dir: "ltr" }, number),
          h("p", { class: "hint" }, t("trust.theirFp", { fp: formatDigits(fingerprint({ id: r.id, key: compare! })) })),
          verifiedNow
            ? null
            : h("button", {
                type: "button",
                onclick: () => {
                  pin(kit, r.id, compare!, true);
                  open.delete(r.id);
                  kit.announce(t("trust.markedVerified", { name: who }));
                  refresh();
                },
              }, t("trust.theyMatch")),
        )
      : null,
    buttons.length ? h("p", { class: "row wrap" }, buttons) : null,
  );
}

/**
 * The keys to seal to for `ids` (in their order), pinning those used for the first time; or the
 * sentence that says why nothing can be sealed (a recipient without a key, a link refused for
 * one with nothing pinned, a key change, a key that is not an age key, an id the server does
 * not know).
 */
export async function keysFor(kit: Kit, ids: readonly string[]): Promise<{ keys: string[]; names?: Array<string | null> } | { refused: string }> {
  const rows = await Promise.all(ids.map((id) => rowOf(kit, id)));
  const missing = ids.filter((_, i) => rows[i] === null);
  if (missing.length) return { refused: kit.t("send.noSuchIdsCheck", { ids: kit.names(missing.map(kit.idText)) }) };
  const list = rows as Row[];
  const keyless = list.filter((r) => r.d.kind === "no_key");
  if (keyless.length) return { refused: kit.t("seal.noKeyRefused", { names: kit.names(keyless.map((r) => named(kit, r))) }) };
  const linked = list.filter((r) => r.d.kind === "link_refused");
  if (linked.length) return { refused: kit.t("seal.linkRefused", { names: kit.names(linked.map((r) => named(kit, r))) }) };
  const changed = list.filter((r) => r.d.kind !== "seal");
  if (changed.length) return { refused: kit.t("seal.changedRefused", { names: kit.names(changed.map((r) => named(kit, r))) }) };
  for (const r of list) {
    const d = r.d as Extract<TrustDecision, { kind: "seal" }>;
    if (!r.pinned) pin(kit, r.id, d.pin.key, d.pin.verified); // pinned on first use
  }
  return { keys: list.map((r) => (r.d as Extract<TrustDecision, { kind: "seal" }>).pin.key), names: list.map((r) => r.name) };
}

/**
 * Without a connection: the keys pinned on this device for `to` (a link, a QR code or an earlier
 * send pinned them), unless this page last saw the server publish another (or none); or the
 * sentence that says why nothing can be sealed. Nothing is pinned here: a first use needs the
 * server's key.
 */
export function pinnedKeys(kit: Kit, to: ReadonlyArray<{ id: string; name: string }>): { keys: string[]; names?: Array<string | null> } | { refused: string } {
  const pins = kit.store.loadFor("pins");
  const who = (list: typeof to) => kit.names(list.map((w) => (w.name ? kit.bidi(w.name) : kit.idText(w.id))));
  const unpinned = to.filter((w) => !pins[w.id]);
  if (unpinned.length) return { refused: kit.t("seal.offlineNoPin", { names: who(unpinned) }) };
  const changed = to.filter((w) => seen.has(w.id) && rowFrom(kit, w.id, seen.get(w.id)!).d.kind !== "seal");
  if (changed.length) return { refused: kit.t("seal.changedRefused", { names: who(changed) }) };
  return { keys: to.map((w) => pins[w.id]!.key) };
}

/**
 * Before a send sealed while offline is created: the sentence that says why it must not go (a
 * recipient's key is not, or no longer, the one its files were sealed to; an id the server does
 * not know), or null when every key the server publishes and this device pins is still `sealedTo`.
 */
export async function recheck(kit: Kit, ids: readonly string[], sealedTo: readonly string[]): Promise<string | null> {
  const rows = await Promise.all(ids.map((id) => rowOf(kit, id)));
  const missing = ids.filter((_, i) => rows[i] === null);
  if (missing.length) return kit.t("send.noSuchIdsCheck", { ids: kit.names(missing.map(kit.idText)) });
  const moved = (rows as Row[]).filter((r, i) => r.d.kind !== "seal" || r.d.pin.key !== sealedTo[i]);
  return moved.length ? kit.t("seal.keyMoved", { names: kit.names(moved.map((r) => named(kit, r))) }) : null;
}
