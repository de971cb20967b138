import { ApiError, describeError, NetworkError } from "../client";
import { SealError } from "../client/seal/errors";

/**
 * Exit codes: stable, documented in `pushdrop --help` and the README, so scripts can branch
 * on what went wrong without reading the message.
 */
export const EXIT = {
  ok: 0,
  /** a bug in pushdrop itself (reported without a stack trace unless PUSHDROP_DEBUG=1) */
  internal: 1,
  /** the command line is wrong (unknown option, missing argument, malformed id, not registered),
   *  or a local file cannot be read or written */
  usage: 2,
  /** the server refused: an API error (4xx/5xx), its code named in the message and in --json */
  api: 3,
  /** the server could not be reached, or the connection kept breaking */
  network: 4,
  /** what arrived is not what was sent: a checksum mismatch, or a package with an unsafe name;
   *  or where it would go is unsafe: a link (or a FIFO…) planted at the `.part` path */
  integrity: 5,
  /** `send --wait`: the transfer ended (expired, cancelled, failed) before every recipient had it */
  undelivered: 6,
  /** stopped by Ctrl-C (SIGINT) */
  interrupted: 130,
} as const;

export const EXIT_HELP = `Exit codes:
  0    success
  1    internal error (a bug in pushdrop)
  2    usage error (bad arguments, malformed id, not registered yet,
       a local file that cannot be read or written)
  3    the server refused (API error; its code is named)
  4    network failure (server unreachable, connection kept breaking)
  5    verification failed (checksum mismatch, unsafe name in a package,
       a link or other non-regular file where a download goes)
  6    send --wait: the transfer ended before every recipient downloaded it
  130  interrupted (Ctrl-C)`;

type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports in plain words with a chosen exit code. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** a machine-readable reason for --json ("usage", "sha256_mismatch", …) */
    readonly code: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const usageError = (message: string, details?: unknown) => new CliError(message, EXIT.usage, "usage", details);
export const integrityError = (message: string, code = "integrity", details?: unknown) => new CliError(message, EXIT.integrity, code, details);

export interface ErrorReport {
  exitCode: number;
  message: string;
  json: { error: { code: string; message: string; kind: string; status?: number; details?: unknown } };
}

/** What to print, and which exit code, for anything a command throws. */
export function reportError(e: unknown): ErrorReport {
  if (e instanceof CliError) {
    const kind = Object.entries(EXIT).find(([, v]) => v === e.exitCode)?.[0] ?? "error";
    return { exitCode: e.exitCode, message: e.message, json: { error: { code: e.code, message: e.message, kind, details: e.details } } };
  }
  if (e instanceof SealError) {
    // a seal or a sealed file that does not check out: verification failed
    const message = `${e.message} (${e.code}); nothing was kept.`;
    return { exitCode: EXIT.integrity, message, json: { error: { code: e.code, message, kind: "integrity" } } };
  }
  if (e instanceof ApiError) {
    const hint = e.status === 401 ? "\n  This terminal's token no longer works (replaced elsewhere, or the terminal deleted): `pushdrop register --force` makes a new one." : "";
    const message = `${describeError(e)} (${e.code}, HTTP ${e.status})${detailLine(e)}${hint}`;
    return {
      exitCode: EXIT.api,
      message,
      json: { error: { code: e.code, message: e.message, kind: "api", status: e.status, details: e.details } },
    };
  }
  if (e instanceof NetworkError) {
    return { exitCode: EXIT.network, message: e.message, json: { error: { code: "network", message: e.message, kind: "network" } } };
  }
  if (isAbort(e)) {
    return { exitCode: EXIT.interrupted, message: "Stopped.", json: { error: { code: "interrupted", message: "Stopped.", kind: "interrupted" } } };
  }
  const fs = fsError(e);
  if (fs) return { exitCode: EXIT.usage, message: fs, json: { error: { code: "file_error", message: fs, kind: "usage" } } };
  const message = `Internal error: ${e instanceof Error ? e.message : String(e)}. This is a bug in pushdrop; PUSHDROP_DEBUG=1 shows where.`;
  return { exitCode: EXIT.internal, message, json: { error: { code: "internal", message, kind: "internal" } } };
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === "AbortError" || (e as { code?: string }).code === "ABORT_ERR");
}

/** The ids an API error names (unknown recipients, refused recipients), as a second sentence. */
function detailLine(e: ApiError): string {
  const d = e.details as { missing?: unknown; refused?: unknown; issues?: unknown } | undefined;
  const ids = (Array.isArray(d?.missing) ? d.missing : Array.isArray(d?.refused) ? d.refused : []).map(String).filter((id) => !e.message.includes(id));
  if (ids.length) return `: ${ids.join(", ")}`;
  if (Array.isArray(d?.issues)) {
    const issues = (d.issues as Array<{ path?: unknown; message?: unknown }>).map((i) => `${Array.isArray(i.path) && i.path.length ? `${i.path.join(".")}: ` : ""}${String(i.message)}`);
    if (issues.length) return `\n  ${issues.slice(0, 5).join("\n  ")}`;
  }
  return "";
}

/** A file system error (a file that is not there, no permission…) in plain words. */
function fsError(e: unknown): string | null {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== "string" || !err.syscall) return null;
  const where = err.path ? ` ${err.path}` : "";
  switch (err.code) {
    case "ENOENT":
      return `No such file or directory:${where}`;
    case "EACCES":
    case "EPERM":
      return `Permission denied:${where}`;
    case "ENOSPC":
      return `No space left on the device writing${where}`;
    case "EISDIR":
      return `Is a directory:${where}`;
    case "ENOTDIR":
      return `Not a directory:${where}`;
    default:
      return `${err.code} (${err.syscall})${where}: ${err.message}`;
  }
}
