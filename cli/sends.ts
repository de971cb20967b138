import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { stateDir, writePrivate } from "./config";
import type { LocalFile } from "./files";
import { removeSpool, type SpoolState } from "./sealing";

/**
 * Unfinished sends, so that an interrupted `pushdrop send` resumes: running it again with the
 * same arguments (same files, unchanged in size and modification time) finds the transfer it
 * had created, and `pushdrop resume <id>` finds the files of a transfer. One small JSON file
 * per transfer in `$XDG_STATE_HOME/pushdrop/sends/` (so two sends at once never write the
 * same file), removed once every byte is in.
 */

export interface PendingSend {
  key: string;
  transferId: string;
  server: string;
  from: string;
  to: string[];
  message?: string;
  createdAt: string;
  expiresAt: string;
  files: LocalFile[];
  /** a sealed send: its private spool (what goes up), the seal's draft and the keys sealed to (cli/sealing.ts) */
  sealed?: SpoolState;
}

export interface SendRequest {
  server: string;
  from: string;
  to: string[];
  message?: string;
  expiresIn?: number;
  maxDownloads?: number;
  files: LocalFile[];
  /** sealed to these keys (a send sealed to other keys is another send) */
  seal?: string[];
}

/** The same command on the same unchanged files gives the same key. */
export function sendKey(r: SendRequest): string {
  const canonical = JSON.stringify([
    r.server,
    r.from,
    [...r.to].sort(),
    r.message ?? null,
    r.expiresIn ?? null,
    r.maxDownloads ?? null,
    r.files.map((f) => [f.path, f.name, f.size, f.mtimeMs]),
    ...(r.seal ? [["sealed", ...r.seal]] : []),
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

const dir = (env = process.env) => path.join(stateDir(env), "sends");
const fileOf = (transferId: string, env = process.env) => path.join(dir(env), `${transferId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);

export function pendingSends(env = process.env, now = Date.now()): PendingSend[] {
  let names: string[];
  try {
    names = readdirSync(dir(env));
  } catch {
    return [];
  }
  const out: PendingSend[] = [];
  for (const n of names) {
    if (!n.endsWith(".json")) continue;
    try {
      const p = JSON.parse(readFileSync(path.join(dir(env), n), "utf8")) as PendingSend;
      if (Date.parse(p.expiresAt) <= now) {
        removeSpool(p.sealed?.spool, env);
        rmSync(path.join(dir(env), n), { force: true }); // its transfer is gone on the server too
        continue;
      }
      out.push(p);
    } catch {
      // a half-written or foreign file: not ours to use
    }
  }
  return out;
}

export const findSendByKey = (key: string, server: string, env = process.env) =>
  pendingSends(env).find((p) => p.key === key && p.server === server) ?? null;

export const findSendById = (transferId: string, env = process.env) => pendingSends(env).find((p) => p.transferId === transferId) ?? null;

export function rememberSend(p: PendingSend, env = process.env): void {
  mkdirSync(dir(env), { recursive: true, mode: 0o700 });
  writePrivate(fileOf(p.transferId, env), JSON.stringify(p));
}

/** Forgets an unfinished send, and removes its spool (a sealed send's age files) with it. */
export function forgetSend(transferId: string, env = process.env): void {
  try {
    const p = JSON.parse(readFileSync(fileOf(transferId, env), "utf8")) as PendingSend;
    removeSpool(p.sealed?.spool, env);
  } catch {
    // no record (or not ours): nothing to remove but the name
  }
  rmSync(fileOf(transferId, env), { force: true });
}
