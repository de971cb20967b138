import { ApiError, formatTerminalId, NetworkError, type PushdropClient } from "../client";
import { decideTrust, fingerprint, formatDigits, generateIdentity, isIdentityString, recipientOf } from "../client/seal";
import { saveConfig, type Identity, type StoredKey, type StoredPin } from "./config";
import type { Ctx } from "./context";
import { CliError, EXIT, usageError } from "./exit";
import { shown } from "./sanitize";

/**
 * This computer's age keys (issue 23) and the contacts' keys it pinned.
 *
 * The identities live in the config file (mode 0600), newest first: the newest is the one the
 * server publishes; older ones are kept until everything sealed to them has expired (a transfer
 * lives 7 days at most, and a started download may finish within an hour). In CI,
 * `PUSHDROP_IDENTITY` supplies the identity (several, separated by spaces or commas: the first
 * is the current one) and nothing is written.
 */

/** How long a replaced identity is kept: a transfer's longest life (7 days) and the hour a started download may take. */
export const KEEP_RETIRED_MS = 7 * 86_400_000 + 3_600_000;

export interface MyKeys {
  /** the current identity (`AGE-SECRET-KEY-1…`) and its recipient */
  identity: string;
  recipient: string;
  /** every identity that may open what was sealed to this terminal, newest first */
  all: string[];
  fromEnv: boolean;
}

/** The stored terminal record for `me`, when `me` is the stored one (not PUSHDROP_ID/TOKEN for another id). */
function stored(ctx: Ctx, me: Identity) {
  const t = ctx.config.terminals[ctx.server];
  return t && t.id === me.id ? t : undefined;
}

/** The identities PUSHDROP_IDENTITY gives, or null when it is unset. */
function envIdentities(ctx: Ctx): string[] | null {
  const raw = (ctx.env.PUSHDROP_IDENTITY ?? "").trim();
  if (!raw) return null;
  const ids = raw.split(/[\s,]+/).filter(Boolean);
  for (const i of ids) {
    if (!isIdentityString(i)) throw usageError("PUSHDROP_IDENTITY is not an age X25519 identity (AGE-SECRET-KEY-1…, as `pushdrop key export` prints).");
  }
  return ids;
}

/** The keys this computer holds for `me` (dropping retired ones past their time), or null when it has none yet. */
export async function localKeys(ctx: Ctx, me: Identity, now = Date.now()): Promise<MyKeys | null> {
  const t = stored(ctx, me);
  if (t?.keys) {
    const kept = t.keys.filter((k) => !k.retiredAt || Date.parse(k.retiredAt) + KEEP_RETIRED_MS > now);
    if (kept.length !== t.keys.length) {
      t.keys = kept;
      saveConfig(ctx.config, ctx.env);
    }
  }
  const fromStore = (t?.keys ?? []).map((k) => k.identity);
  const env = envIdentities(ctx);
  if (env) {
    const all = [...env, ...fromStore.filter((i) => !env.includes(i))];
    return { identity: env[0]!, recipient: await recipientOf(env[0]!), all, fromEnv: true };
  }
  const first = t?.keys?.[0];
  if (!first) return null;
  return { identity: first.identity, recipient: first.recipient, all: fromStore, fromEnv: false };
}

/** A new identity, stored newest first for the stored terminal (the one before it retired now). */
export async function newStoredKey(ctx: Ctx, me: Identity, now = new Date()): Promise<StoredKey> {
  const t = stored(ctx, me);
  if (!t) throw usageError("This terminal comes from PUSHDROP_ID/PUSHDROP_TOKEN: keep its identity in PUSHDROP_IDENTITY (an `AGE-SECRET-KEY-1…`, e.g. from `age-keygen`).");
  const pair = await generateIdentity();
  const key: StoredKey = { identity: pair.identity, recipient: pair.recipient, createdAt: now.toISOString() };
  t.keys = [key, ...(t.keys ?? []).map((k) => (k.retiredAt ? k : { ...k, retiredAt: now.toISOString() }))];
  saveConfig(ctx.config, ctx.env);
  return key;
}

export interface KeyState {
  keys: MyKeys | null;
  /** what the server publishes for this terminal (undefined: it could not be asked) */
  published?: string | null;
  /** the server publishes this computer's current key */
  ok: boolean;
}

/**
 * This terminal's keys, made and published when it has none yet (a registration from before
 * sealed transfers gets one here), and checked against what the server publishes: a key there
 * that is not ours means someone with this terminal's token (or the server) replaced it, and can
 * read what is sealed to this terminal from then on. That is said loudly, never "fixed" quietly.
 */
export async function ensureKeys(ctx: Ctx, client: PushdropClient, me: Identity): Promise<KeyState> {
  let keys = await localKeys(ctx, me);
  let madeNow = false;
  if (!keys) {
    if (!stored(ctx, me)) {
      ctx.ui.warn("This terminal has no key here (PUSHDROP_ID/PUSHDROP_TOKEN without PUSHDROP_IDENTITY): sealed transfers to it cannot be opened.");
      return { keys: null, ok: false };
    }
    await newStoredKey(ctx, me);
    keys = await localKeys(ctx, me);
    madeNow = true;
  }
  let published: string | null;
  try {
    published = (await client.lookup(me.id)).key;
  } catch (e) {
    if (e instanceof NetworkError) return { keys, ok: false };
    throw e;
  }
  const mine = keys!;
  if (published === null) {
    // none published (a registration, or one from before sealed transfers): ours goes up
    published = (await client.publishKey(me.id, mine.recipient)).key;
    if (!madeNow) ctx.ui.info(`Published this computer's key for ${formatTerminalId(me.id)} (the server had none).`);
  } else if (published !== mine.recipient && mine.all.length > 1 && (await olderOfOurs(mine, published))) {
    // one of this computer's older keys (a rotate whose publishing did not get through): what is
    // sealed to it still opens here, and the current one takes its place
    published = (await client.publishKey(me.id, mine.recipient)).key;
    ctx.ui.info(`Published this computer's current key for ${formatTerminalId(me.id)} (the server still had an older one of this computer's).`);
  }
  // a key that is not ours is never replaced here, even by a key made just now: say so, loudly
  const ok = published === mine.recipient;
  if (!ok) warnForeignKey(ctx, me, published, madeNow);
  return { keys, published, ok };
}

/** Whether `published` is the recipient of one of this computer's older identities. */
async function olderOfOurs(keys: MyKeys, published: string): Promise<boolean> {
  for (const identity of keys.all.slice(1)) if ((await recipientOf(identity)) === published) return true;
  return false;
}

export function warnForeignKey(ctx: Ctx, me: Identity, published: string | null, madeNow = false): void {
  ctx.ui.warn(
    [
      `WARNING: ${ctx.server} publishes a key for ${formatTerminalId(me.id)} that is not this computer's${published ? ` (${shown(published)})` : ""}.`,
      ...(madeNow ? ["This computer had no key for this terminal and made one just now; it did not replace the one the server publishes."] : []),
      "Whoever put it there (someone holding this terminal's token, or the server itself) can read what others seal to you from now on,",
      "and this computer cannot open it. If you did not do this elsewhere: `pushdrop key rotate` publishes a new key of this computer's,",
      "and tell your contacts to check your safety number again (`pushdrop key verify`).",
    ].join("\n"),
  );
}

/** A terminal's 30-digit fingerprint, grouped for reading aloud. */
export const shownFingerprint = (id: string, key: string) => formatDigits(fingerprint({ id, key }));

/** What this computer pinned for contact `id` on this server. */
export function pinOf(ctx: Ctx, id: string): StoredPin | undefined {
  return ctx.config.pins?.[ctx.server]?.[id];
}

export function savePin(ctx: Ctx, id: string, pin: { key: string; verified: boolean }): void {
  const pins = (ctx.config.pins ??= {});
  const here = (pins[ctx.server] ??= {});
  const before = here[id];
  const refused = ctx.config.refused?.[ctx.server];
  if (before && before.key === pin.key && before.verified === pin.verified && !refused?.[id]) return;
  here[id] = { key: pin.key, verified: pin.verified, pinnedAt: before?.key === pin.key ? before.pinnedAt : new Date().toISOString() };
  if (refused) delete refused[id]; // a pin decides over a link refused earlier
  saveConfig(ctx.config, ctx.env);
}

/** The key a share link carried for `id` that was refused (kept until a pin), if any. */
export function refusedOf(ctx: Ctx, id: string): string | undefined {
  return ctx.config.refused?.[ctx.server]?.[id];
}

function saveRefused(ctx: Ctx, id: string, key: string): void {
  const here = ((ctx.config.refused ??= {})[ctx.server] ??= {});
  if (here[id] === key) return;
  here[id] = key;
  saveConfig(ctx.config, ctx.env);
}

/** The key the server publishes for a terminal (null: none). */
export async function publishedKey(client: PushdropClient, id: string): Promise<string | null> {
  try {
    return (await client.lookup(id)).key;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw usageError(`There is no terminal ${formatTerminalId(id)} on this server.`);
    throw e;
  }
}

/**
 * The keys share links carried for recipients (`--to <link>`), checked before anything is
 * sealed (issue 23, Trust): a link key that is not what the server publishes is refused; one
 * that is not the key pinned for the contact is a key change, never a re-pin. A link key that
 * passes is the published one, which the send then pins on first use like any other.
 */
export async function checkLinkKeys(ctx: Ctx, client: PushdropClient, links: ReadonlyMap<string, string>): Promise<void> {
  for (const [id, key] of links) {
    let published: string | null;
    try {
      published = (await client.lookup(id)).key;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) continue; // (the send names every unknown id)
      throw e;
    }
    const pinned = pinOf(ctx, id);
    const d = decideTrust({ pinned: pinned ? { key: pinned.key, verified: pinned.verified } : null, published, link: { key, scanned: false } });
    const who = formatTerminalId(id);
    if (d.kind === "link_refused") {
      // kept: without a pin, the key the server publishes is not then trusted on first use (sealing.ts)
      if (!pinned && published !== null) saveRefused(ctx, id, key);
      throw new CliError(
        [
          `Nothing was sent: the share link for ${who} carries a key that is not the one the server publishes for it${published === null ? " (it publishes none)" : ""}.`,
          `Either the link was changed on its way to you, or someone (whoever holds ${who}'s token, or the server) swapped the key. Ask ${who} by another channel for its link again (\`pushdrop whoami\` prints it), or compare safety numbers (\`pushdrop key verify ${id}\`).`,
        ].join("\n"),
        EXIT.integrity,
        "link_refused",
        { id, link: key, published },
      );
    }
    if (d.kind === "key_changed") {
      throw new CliError(
        [
          `Nothing was sent: the share link's key for ${who} is not the one this computer pinned on ${pinned!.pinnedAt.slice(0, 10)}${d.reverify ? " and you verified" : ""}; a link never replaces a pinned key.`,
          `Compare your safety number with ${who} by another channel: \`pushdrop key verify ${id}\` prints it, \`pushdrop key verify ${id} <number>\` accepts the new key once they match.`,
        ].join("\n"),
        EXIT.integrity,
        "key_changed",
        { id, pinned: pinned!.key, published, link: key },
      );
    }
    // a link that agrees with the server pins its key (and ends a refusal kept from an earlier link)
    if (d.kind === "seal") savePin(ctx, id, d.pin);
  }
}
