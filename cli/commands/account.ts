import { hostname } from "node:os";
import { renderUnicodeCompact } from "uqr";
import { ApiError, formatTerminalId, NetworkError, PushdropClient } from "../../client";
import { shareLink } from "../../client/seal";
import { MAX_TERMINAL_NAME } from "../../src/contract/limits";
import { identity, saveConfig } from "../config";
import { ensureKeys, shownFingerprint } from "../keys";
import type { Ctx } from "../context";
import { usageError } from "../exit";
import { shown } from "../sanitize";

/** `pushdrop register` and `pushdrop whoami`: who this computer is. */

export async function register(ctx: Ctx, opts: { name?: string; force?: boolean }): Promise<void> {
  const existing = ctx.config.terminals[ctx.server];
  if (existing && !opts.force) {
    throw usageError(
      `This computer is already terminal ${formatTerminalId(existing.id)} on ${ctx.server}. Use --force to register a new terminal (the old id stays on the server until deleted).`,
    );
  }
  const name = (opts.name ?? defaultName()).slice(0, MAX_TERMINAL_NAME);
  const t = await new PushdropClient({ server: ctx.server }).register(name);
  ctx.config.terminals[ctx.server] = { id: t.id, name: t.name, token: t.token, registeredAt: t.createdAt };
  ctx.config.server = ctx.server;
  const file = saveConfig(ctx.config, ctx.env);
  // its age key (issue 23): made here (or PUSHDROP_IDENTITY's), kept in the config, published
  const me = { server: ctx.server, ...ctx.config.terminals[ctx.server]! };
  const { keys, ok } = await ensureKeys(ctx, new PushdropClient({ server: ctx.server, token: t.token }), me);
  const key = ok && keys ? keys.recipient : null;
  ctx.ui.emit({
    id: t.id,
    display: t.display,
    name: t.name,
    server: ctx.server,
    shareUrl: shareUrl(ctx.server, t.id, key),
    config: file,
    key,
    fingerprint: key ? shownFingerprint(t.id, key).replace(/ /g, "") : null,
  });
  ctx.ui.print(`Registered as ${t.display} (${shown(t.name)}) on ${ctx.server}.`);
  ctx.ui.info(`Token and key saved in ${file} (readable only by you). Others send to you with: pushdrop send <file> --to ${t.display.replace(/ /g, "")}`);
}

export async function whoami(ctx: Ctx): Promise<void> {
  const me = identity(ctx.server, ctx.config, ctx.env);
  let name = me.name;
  try {
    name = (await new PushdropClient({ server: ctx.server }).lookup(me.id)).name;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw e; // the server no longer knows this id
    if (!(e instanceof NetworkError)) throw e;
    ctx.ui.warn(`(could not reach ${ctx.server} to check: ${e.message})`);
  }
  // this computer's key, and whether the server publishes it (ensureKeys warns loudly if not)
  let state: Awaited<ReturnType<typeof ensureKeys>> = { keys: null, ok: false };
  try {
    state = await ensureKeys(ctx, new PushdropClient({ server: ctx.server, token: me.token }), me);
  } catch (e) {
    if (!(e instanceof NetworkError)) throw e;
  }
  const key = state.keys?.recipient ?? null;
  const fp = key ? shownFingerprint(me.id, key) : null;
  // the share link carries the key only when the server publishes it (a link key the server contradicts is refused)
  const url = shareUrl(ctx.server, me.id, state.ok ? key : null);
  ctx.ui.emit({
    id: me.id,
    display: formatTerminalId(me.id),
    name,
    server: ctx.server,
    shareUrl: url,
    key,
    fingerprint: fp?.replace(/ /g, "") ?? null,
    keyPublished: state.published === undefined ? null : state.ok,
  });
  if (ctx.ui.json) return;
  ctx.ui.print(`${formatTerminalId(me.id)}  ${shown(name)}`);
  ctx.ui.print(`server: ${ctx.server}`);
  ctx.ui.print(`share:  ${url}`);
  if (fp) ctx.ui.print(`key fingerprint: ${fp}${state.ok ? "" : state.published === undefined ? " (not checked: server not reached)" : "  (NOT what the server publishes: see the warning)"}`);
  if (ctx.ui.stdoutTty) ctx.ui.print(`\n${renderUnicodeCompact(url, { border: 2, ecc: "M" })}`);
}

/** The web app's link that opens a send form addressed to this terminal. */
export const shareUrl = (server: string, id: string, key: string | null = null) => shareLink(server, id, key);

function defaultName(): string {
  const h = hostname().replace(/\.local$/, "").trim();
  return h || "pushdrop CLI";
}
