import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { normalizeTerminalId } from "../client";
import { CliError, EXIT, usageError } from "./exit";

/**
 * Where the CLI keeps who it is: `$XDG_CONFIG_HOME/pushdrop/config.json` (else
 * `~/.config/pushdrop/config.json`), mode 0600 in a 0700 folder, since it holds the token.
 * One terminal per server, so a test server and the real one can both be used; the server
 * last registered with is the default.
 */

export const DEFAULT_SERVER = "http://127.0.0.1:8787";

/** One of this terminal's age identities (issue 23): the newest is the one published. */
export interface StoredKey {
  /** `AGE-SECRET-KEY-1…` (this file is mode 0600) */
  identity: string;
  /** its `age1…` recipient */
  recipient: string;
  createdAt: string;
  /** when a newer key replaced it: kept until what was sealed to it has expired (7 days at most) */
  retiredAt?: string;
}

export interface StoredTerminal {
  id: string;
  name: string;
  token: string;
  registeredAt?: string;
  /** newest first; the first is the published one */
  keys?: StoredKey[];
}

/** A contact's key as this computer pinned it (client/seal's Pin), and when. */
export interface StoredPin {
  key: string;
  verified: boolean;
  pinnedAt: string;
}

export interface Config {
  /** the server used when neither --server nor PUSHDROP_SERVER says otherwise */
  server?: string;
  terminals: Record<string, StoredTerminal>;
  /** per server, per contact terminal id: the key sealed to (pinned on first use, or verified) */
  pins?: Record<string, Record<string, StoredPin>>;
  /**
   * per server, per contact terminal id: a key a share link carried that the server did not
   * publish (refused): while the contact has no pin, the server's key is not trusted on first use
   */
  refused?: Record<string, Record<string, string>>;
}

export function configDir(env = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homedir(), ".config");
  return path.join(base, "pushdrop");
}

/** Local state that is not configuration (unfinished sends): `$XDG_STATE_HOME/pushdrop`, else `~/.local/state/pushdrop`. */
export function stateDir(env = process.env): string {
  const base = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(homedir(), ".local", "state");
  return path.join(base, "pushdrop");
}

export const configFile = (env = process.env) => path.join(configDir(env), "config.json");

export function loadConfig(env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(configFile(env), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { terminals: {} };
    throw e;
  }
  try {
    const c = JSON.parse(text) as Partial<Config>;
    return {
      server: typeof c.server === "string" ? c.server : undefined,
      terminals: c.terminals && typeof c.terminals === "object" ? c.terminals : {},
      pins: c.pins && typeof c.pins === "object" ? c.pins : {},
      refused: c.refused && typeof c.refused === "object" ? c.refused : {},
    };
  } catch {
    throw usageError(`${configFile(env)} is not valid JSON; fix or remove it (then \`pushdrop register\` again).`);
  }
}

/** Writes the config readable by its owner only (0600), replacing the old file in one step. */
export function saveConfig(config: Config, env = process.env): string {
  const file = configFile(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writePrivate(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/**
 * `text` as `file`, readable by its owner only (0600), replacing the old file in one step (the
 * config, the records of unfinished sends, what a sealed send kept): its temporary file is
 * created by this call or it is an error, so nothing is ever written through a link.
 */
export function writePrivate(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // a leftover of a killed run with our pid (a link is removed, not followed)
  writeFileSync(tmp, text, { mode: 0o600, flag: "wx" }); // created here, by us, or an error
  chmodSync(tmp, 0o600); // the mode above is masked by the umask; a token or a key must not be readable by others
  renameSync(tmp, file);
}

/** A server URL as the user typed it → "https://host[:port]" without a trailing slash or /v1. */
export function normalizeServer(input: string): string {
  let u: URL;
  try {
    u = new URL(input.includes("://") ? input : `https://${input}`);
  } catch {
    throw usageError(`"${input}" is not a server URL (e.g. https://pushdrop.example or http://127.0.0.1:8787).`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw usageError(`"${input}" is not an http(s) URL.`);
  const p = u.pathname.replace(/\/+$/, "").replace(/\/v1$/, "");
  return `${u.protocol}//${u.host}${p}`;
}

/** --server, else PUSHDROP_SERVER, else the config's default, else the local `npm start` address. */
export function resolveServer(flag: string | undefined, config: Config, env = process.env): string {
  // an empty PUSHDROP_SERVER (PUSHDROP_SERVER= pushdrop …) is as good as unset
  return normalizeServer(flag ?? (env.PUSHDROP_SERVER || undefined) ?? config.server ?? DEFAULT_SERVER);
}

export interface Identity extends StoredTerminal {
  server: string;
}

/**
 * The terminal this computer is on `server`: PUSHDROP_ID + PUSHDROP_TOKEN from the
 * environment (for CI jobs and servers that keep secrets there), else the stored one.
 */
export function identity(server: string, config: Config, env = process.env): Identity {
  if (env.PUSHDROP_TOKEN) {
    const id = normalizeTerminalId(env.PUSHDROP_ID ?? "");
    if (!id) throw usageError("PUSHDROP_TOKEN is set but PUSHDROP_ID is not a terminal id (9 digits).");
    return { server, id, name: "", token: env.PUSHDROP_TOKEN };
  }
  const t = config.terminals[server];
  if (!t) {
    // (main asks the server first: when nothing answers there, that is what the user is told)
    throw new CliError(
      `This computer has no terminal on ${server} yet: run \`pushdrop register${server === DEFAULT_SERVER ? "" : ` --server ${server}`}\` first.`,
      EXIT.usage,
      "usage", // (as before, for scripts that look at --json's code)
      { reason: "not_registered", server },
    );
  }
  return { server, ...t };
}
