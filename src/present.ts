import { signDownload } from "./auth/signing";
import { iso, isoOrNull, type File, type Transfer } from "./contract";
import { effectiveStatus, isDownloadable, isRecipient, mayDownload } from "./lifecycle";
import { partCount, receivedBytes } from "./receive/parts";
import type { FileRow, PartRow, TransferRecord, TransferRow } from "./store/transfers";

/** Turns stored rows into the wire objects of the contract, as one terminal may see them. */

/**
 * Where links point: PUBLIC_URL when set; else the origin the viewer reached us at (an HTTP
 * response), or for a pushed message the origin the transfer was created through.
 */
export function baseUrl(env: Env, t: TransferRow, viewerOrigin?: string): string {
  return (env.PUBLIC_URL || viewerOrigin || t.origin).replace(/\/+$/, "");
}

export interface Viewer {
  /** the terminal looking at the transfer; recipients get signed links */
  terminalId: string | null;
  now: number;
  /** the origin of the viewer's request; absent for pushed messages */
  origin?: string;
}

export function presentFile(base: string, t: TransferRow, f: FileRow, parts: readonly PartRow[], signed: string | null): File {
  const count = partCount(f.size, f.part_size);
  const mine = parts.filter((p) => p.idx === f.idx);
  const complete = f.completed_at !== null;
  return {
    index: f.idx,
    name: f.name,
    size: f.size,
    type: f.type,
    received: complete ? f.size : receivedBytes(mine),
    partSize: f.part_size,
    parts: count,
    partsReceived: complete ? Array.from({ length: count }, (_, i) => i + 1) : mine.map((p) => p.part),
    sha256: f.sha256,
    uploadUrl: `${base}/v1/transfers/${t.id}/files/${f.idx}`,
    downloadUrl: signed ? `${base}/v1/transfers/${t.id}/files/${f.idx}?${signed}` : null,
  };
}

export async function presentTransfer(env: Env, rec: TransferRecord, viewer: Viewer): Promise<Transfer> {
  const t = rec.transfer;
  const base = baseUrl(env, t, viewer.origin);
  let signed: string | null = null;
  // a message without files has no package, and so no links; nor has a recipient for whom
  // maxDownloads is used up (unless it may still finish its own download)
  if (rec.files.length > 0 && viewer.terminalId !== null && isRecipient(rec, viewer.terminalId) && isDownloadable(t, viewer.now) && mayDownload(rec, viewer.terminalId, viewer.now)) {
    // a link lives as long as the transfer: a transfer.ready replayed days later still works
    const exp = Math.floor(t.expires_at / 1000);
    signed = await signDownload(env.SIGNING_KEY, t.id, viewer.terminalId!, exp);
  }
  return {
    id: t.id,
    status: effectiveStatus(t, viewer.now),
    from: { id: t.sender_id, name: t.sender_name },
    to: rec.recipients.map((r) => r.terminal_id),
    message: t.message,
    files: rec.files.map((f) => presentFile(base, t, f, rec.parts, signed)),
    size: t.total_size,
    package: t.package_size !== null && t.package_sha256 !== null ? { size: t.package_size, sha256: t.package_sha256 } : null,
    createdAt: iso(t.created_at),
    expiresAt: iso(t.expires_at),
    maxDownloads: t.max_downloads,
    downloads: t.downloads,
    downloadUrl: signed ? `${base}/v1/transfers/${t.id}/package?${signed}` : null,
    failure: t.failure,
    recipients: rec.recipients.map((r) => ({
      id: r.terminal_id,
      notifiedAt: isoOrNull(r.notified_at),
      channel: r.channel,
      openedAt: isoOrNull(r.opened_at),
      downloadedAt: isoOrNull(r.downloaded_at),
    })),
  };
}
