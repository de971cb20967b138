import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type { SealDraft } from "../client/seal";
import { stateDir, writePrivate } from "./config";

/**
 * What this computer sealed and sent (issue 23): a sealed transfer's server shows only `1.age …`
 * and `seal.age`, and the sender cannot open the seal (it is sealed to the recipients), so the
 * real names, sizes and message are kept here, one small file per transfer in
 * `$XDG_STATE_HOME/pushdrop/sent/` (folder 0700, files 0600), for `pushdrop status`; `pushdrop
 * cancel`, or the first sealed send after the transfer expired, removes them.
 */

export interface SentSeal {
  transferId: string;
  server: string;
  expiresAt: string;
  draft: SealDraft;
}

const dir = (env = process.env) => path.join(stateDir(env), "sent");
const fileOf = (transferId: string, env = process.env) => path.join(dir(env), `${transferId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);

/** Keeps a sealed send's names and message (and drops those of transfers that have expired). */
export function rememberSealed(s: SentSeal, env = process.env, now = Date.now()): void {
  mkdirSync(dir(env), { recursive: true, mode: 0o700 });
  for (const name of readdirSync(dir(env))) {
    const p = path.join(dir(env), name);
    const old = read(p);
    if (!old || Date.parse(old.expiresAt) <= now) rmSync(p, { force: true });
  }
  writePrivate(fileOf(s.transferId, env), JSON.stringify(s));
}

/** The names and message this computer sealed into a transfer it sent to `server`, if it kept them. */
export function sealedSent(transferId: string, server: string, env = process.env): SealDraft | null {
  const s = read(fileOf(transferId, env));
  return s && s.transferId === transferId && s.server === server ? s.draft : null;
}

export function forgetSealed(transferId: string, env = process.env): void {
  rmSync(fileOf(transferId, env), { force: true });
}

function read(p: string): SentSeal | null {
  try {
    const v = JSON.parse(readFileSync(p, "utf8")) as SentSeal;
    return v && typeof v.transferId === "string" && typeof v.expiresAt === "string" && v.draft && Array.isArray(v.draft.files) ? v : null;
  } catch {
    return null;
  }
}
