import { signDownload } from "./auth/signing";
import { defaultName } from "./auth/register";
import { cleanName, iso, isoOrNull, type File, type Transfer } from "./contract";
import { effectiveStatus, isDownloadable, isRecipient, mayDownload } from "./lifecycle";
import { partCount, receivedBytes } from "./receive/parts";
import type { FileRow, PartRow, TransferRecord, TransferRow } from "./store/transfers";

/** Turns stored rows into the wire objects of the contract, as one terminal may see them. */

/**
 * Names as people see them: the name rule (src/contract/names.ts cleanName) applied again
 * when a name is shown, since a stored one may be older than the rule. A terminal name left
 * empty reads as the name a terminal gets when it was given none.
 */
export const shownTerminalName = (id: string, stored: string) => cleanName(stored).trim() || defaultName(id);
/** A file's name as shown (see shownTerminalName); one left empty reads as `file-<n>` (1-based). */
export const shownFileName = (stored: string, idx: number) => cleanName(stored) || `file-${idx + 1}`;

/**
 * Where links point: PUBLIC_URL when set; else `origin`, the origin the viewer itself reached
 * us at (never one another client chose: not the sender's, not the transfer creator's). With
 * neither, "" (links stay relative: a message's template, which the Terminal object completes
 * when it sends: see notify/links.ts).
 */
export function baseUrl(env: Env, origin?: string | null): string {
  return (env.PUBLIC_URL || origin || "").replace(/\/+$/, "");
}

export interface Viewer {
  /** the terminal looking at the transfer; recipients get signed links */
  terminalId: string | null;
  now: number;
  /**
   * The origin of the viewer's request, and the generation of the token it used (links are
   * signed for that generation and die with it). Both absent for a message queued for a
   * terminal: its links are relative and unsigned until the terminal's object sends it.
   */
  origin?: string;
  gen?: number;
}

/** The query of a recipient's signed links to a transfer; they live as long as the transfer. */
export function signLinks(env: Env, transferId: string, recipient: string, gen: number, expiresAtMs: number): Promise<string> {
  return signDownload(env.SIGNING_KEY, transferId, recipient, gen, Math.floor(expiresAtMs / 1000));
}

export const uploadUrl = (base: string, transferId: string, idx: number) => `${base}/v1/transfers/${transferId}/files/${idx}`;
const fileLink = (base: string, transferId: string, idx: number, signed: string | null) =>
  signed ? `${base}/v1/transfers/${transferId}/files/${idx}?${signed}` : null;
const packageLink = (base: string, transferId: string, signed: string | null) =>
  signed ? `${base}/v1/transfers/${transferId}/package?${signed}` : null;

/**
 * A Transfer with every link (re)made on `base`, download links signed with `signed` (or none):
 * how a queued message gets the links of the moment it is sent.
 */
export function linkTransfer(t: Transfer, base: string, signed: string | null): Transfer {
  return {
    ...t,
    files: t.files.map((f) => ({ ...f, uploadUrl: uploadUrl(base, t.id, f.index), downloadUrl: fileLink(base, t.id, f.index, signed) })),
    downloadUrl: t.files.length > 0 ? packageLink(base, t.id, signed) : null,
  };
}

export function presentFile(base: string, t: TransferRow, f: FileRow, parts: readonly PartRow[], signed: string | null): File {
  const count = partCount(f.size, f.part_size);
  const mine = parts.filter((p) => p.idx === f.idx);
  const complete = f.completed_at !== null;
  return {
    index: f.idx,
    name: shownFileName(f.name, f.idx),
    size: f.size,
    type: f.type,
    received: complete ? f.size : receivedBytes(mine),
    partSize: f.part_size,
    parts: count,
    partsReceived: complete ? Array.from({ length: count }, (_, i) => i + 1) : mine.map((p) => p.part),
    sha256: f.sha256,
    uploadUrl: uploadUrl(base, t.id, f.idx),
    downloadUrl: fileLink(base, t.id, f.idx, signed),
  };
}

export async function presentTransfer(env: Env, rec: TransferRecord, viewer: Viewer): Promise<Transfer> {
  const t = rec.transfer;
  const base = baseUrl(env, viewer.origin);
  let signed: string | null = null;
  // a message without files has no package, and so no links; nor has a recipient for whom
  // maxDownloads is used up (unless it may still finish its own download)
  if (rec.files.length > 0 && viewer.terminalId !== null && viewer.gen !== undefined && isRecipient(rec, viewer.terminalId) && isDownloadable(t, viewer.now) && mayDownload(rec, viewer.terminalId, viewer.now)) {
    signed = await signLinks(env, t.id, viewer.terminalId, viewer.gen, t.expires_at);
  }
  return {
    id: t.id,
    status: effectiveStatus(t, viewer.now),
    from: { id: t.sender_id, name: shownTerminalName(t.sender_id, t.sender_name) },
    to: rec.recipients.map((r) => r.terminal_id),
    message: t.message,
    files: rec.files.map((f) => presentFile(base, t, f, rec.parts, signed)),
    size: t.total_size,
    package: t.package_size !== null && t.package_sha256 !== null ? { size: t.package_size, sha256: t.package_sha256 } : null,
    createdAt: iso(t.created_at),
    expiresAt: iso(t.expires_at),
    maxDownloads: t.max_downloads,
    downloads: t.downloads,
    downloadUrl: packageLink(base, t.id, signed),
    failure: t.failure,
    sealed: t.sealed === 1,
    recipients: rec.recipients.map((r) => ({
      id: r.terminal_id,
      notifiedAt: isoOrNull(r.notified_at),
      channel: r.channel,
      openedAt: isoOrNull(r.opened_at),
      downloadedAt: isoOrNull(r.downloaded_at),
    })),
  };
}
