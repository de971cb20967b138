import type { TransferStatus } from "../contract";
import { fullRecipients, type InboxQuota } from "./quotas";
import { FINISH_MS } from "../config";
import { claimStatements, type IdempotencyClaim } from "./idempotency";

/** D1: transfers, their files, uploaded parts and recipients. The only SQL about transfers. */

export interface TransferRow {
  id: string;
  sender_id: string;
  sender_name: string;
  message: string | null;
  status: TransferStatus;
  created_at: number;
  expires_at: number;
  max_downloads: number | null;
  downloads: number;
  total_size: number;
  package_size: number | null;
  package_sha256: string | null;
  package_upload_id: string | null;
  package_lease_until: number | null;
  failure: string | null;
  purged_at: number | null;
  /** migration 0009: 1 when its files are age files only the recipients can open */
  sealed: number;
}

export interface FileRow {
  transfer_id: string;
  idx: number;
  name: string;
  size: number;
  type: string;
  part_size: number;
  upload_id: string | null;
  completed_at: number | null;
  sha256: string | null;
  crc32: number | null;
  method: number | null;
  data_offset: number | null;
  stored_size: number | null;
}

export interface PartRow {
  transfer_id: string;
  idx: number;
  part: number;
  size: number;
  etag: string;
  /** the R2 object holding this part (migrations/0004) */
  object_key: string;
}

export interface RecipientRow {
  transfer_id: string;
  terminal_id: string;
  position: number;
  notified_at: number | null;
  channel: "socket" | "push" | null;
  downloaded_at: number | null;
  /** the recipient's latest counted start of a download (migrations/0008) */
  started_at: number | null;
  /** when it first opened the transfer (migrations/0008) */
  opened_at: number | null;
}

export interface TransferRecord {
  transfer: TransferRow;
  files: FileRow[];
  parts: PartRow[];
  recipients: RecipientRow[];
}

export interface NewFile {
  name: string;
  size: number;
  type: string;
  part_size: number;
  completed: boolean;
}

export async function insertTransfer(
  db: D1Database,
  t: Omit<TransferRow, "downloads" | "package_size" | "package_sha256" | "package_upload_id" | "package_lease_until" | "failure" | "purged_at" | "sealed"> & {
    sealed?: boolean;
  },
  files: readonly NewFile[],
  recipients: readonly string[],
  claim?: IdempotencyClaim,
): Promise<void> {
  await db.batch([
    // an Idempotency-Key's claim: if another request holds the key, nothing of this batch is kept
    ...(claim ? claimStatements(db, t.sender_id, claim, t.id, t.created_at) : []),
    db
      .prepare(
        `INSERT INTO transfers (id, sender_id, sender_name, message, status, created_at, expires_at, max_downloads, total_size, sealed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(t.id, t.sender_id, t.sender_name, t.message, t.status, t.created_at, t.expires_at, t.max_downloads, t.total_size, t.sealed ? 1 : 0),
    db
      .prepare(
        `INSERT INTO transfer_files (transfer_id, idx, name, size, type, part_size, completed_at)
         SELECT ?1, CAST(key AS INTEGER), json_extract(value, '$.name'), json_extract(value, '$.size'),
                json_extract(value, '$.type'), json_extract(value, '$.part_size'),
                CASE WHEN json_extract(value, '$.completed') THEN ?2 END
         FROM json_each(?3)`,
      )
      .bind(t.id, t.created_at, JSON.stringify(files)),
    db
      .prepare(
        `INSERT INTO recipients (transfer_id, terminal_id, position)
         SELECT ?1, value, CAST(key AS INTEGER) FROM json_each(?2)`,
      )
      .bind(t.id, JSON.stringify(recipients)),
  ]);
}

export function getTransfer(db: D1Database, id: string): Promise<TransferRow | null> {
  return db.prepare("SELECT * FROM transfers WHERE id = ?").bind(id).first<TransferRow>();
}

const recordStatements = (db: D1Database, id: string) => [
  db.prepare("SELECT * FROM transfers WHERE id = ?").bind(id),
  db.prepare("SELECT * FROM transfer_files WHERE transfer_id = ? ORDER BY idx").bind(id),
  db.prepare("SELECT * FROM file_parts WHERE transfer_id = ? ORDER BY idx, part").bind(id),
  db.prepare("SELECT * FROM recipients WHERE transfer_id = ? ORDER BY position").bind(id),
];

function recordFrom([t, f, p, r]: D1Result[]): TransferRecord | null {
  const transfer = (t!.results as TransferRow[])[0];
  if (!transfer) return null;
  return {
    transfer,
    files: f!.results as FileRow[],
    parts: p!.results as PartRow[],
    recipients: r!.results as RecipientRow[],
  };
}

export async function getTransferRecord(db: D1Database, id: string): Promise<TransferRecord | null> {
  return recordFrom(await db.batch(recordStatements(db, id)));
}

/** What an upload to one file needs: the transfer, that file, its parts, and how many files there are. */
export interface UploadRecord {
  transfer: TransferRow;
  file: FileRow | null;
  parts: PartRow[];
  fileCount: number;
}

/** An upload's view of a transfer: one file, not all (a PUT costs the same with 1 file or 1000). */
export async function getUploadRecord(db: D1Database, id: string, idx: number): Promise<UploadRecord | null> {
  const [t, f, p, n] = await db.batch([
    db.prepare("SELECT * FROM transfers WHERE id = ?").bind(id),
    db.prepare("SELECT * FROM transfer_files WHERE transfer_id = ? AND idx = ?").bind(id, idx),
    db.prepare("SELECT * FROM file_parts WHERE transfer_id = ? AND idx = ? ORDER BY part").bind(id, idx),
    db.prepare("SELECT COUNT(*) AS n FROM transfer_files WHERE transfer_id = ?").bind(id),
  ]);
  const transfer = (t!.results as TransferRow[])[0];
  if (!transfer) return null;
  return {
    transfer,
    file: (f!.results as FileRow[])[0] ?? null,
    parts: p!.results as PartRow[],
    fileCount: (n!.results as Array<{ n: number }>)[0]!.n,
  };
}

/** What recording an uploaded part did. */
export interface PartRecorded {
  /** the part now names this upload's object */
  recorded: boolean;
  /**
   * why it was not recorded (null when it was): `closed`, the transfer (or the file) took no
   * more parts (ended, moved on, removed, the file complete); `inbox_full`, the recipients in
   * `full` had no room for it (decided in the same transaction, not looked at again later)
   */
  refused: null | "closed" | "inbox_full";
  /** the recipients whose inboxes had no room for it, in `to` order (empty unless refused for that) */
  full: string[];
  /** the object an earlier upload of the same part had stored, now unreferenced */
  replaced: string | null;
  /** this call completed the file */
  fileCompleted: boolean;
  /** this call moved the transfer to packaging (true for one caller only) */
  packagingStarted: boolean;
  /** how many files the transfer has */
  files: number;
  /** the transfer, the file and its parts as this call left them (what the upload answers with) */
  after: UploadRecord | null;
}

/** SQL: file ?2 of transfer ?1 takes a part at ?5: the transfer is uploading (not purged, not expired) and the file is not complete, or is of one part (sent again until packaging starts). */
const TAKES_PART = `EXISTS (SELECT 1 FROM transfers t JOIN transfer_files f ON f.transfer_id = t.id
  WHERE t.id = ?1 AND f.idx = ?2 AND t.status = 'uploading' AND t.purged_at IS NULL
    AND t.expires_at > ?5 AND (f.completed_at IS NULL OR f.size <= f.part_size))`;

/**
 * Records an uploaded part, in one D1 transaction: only while the transfer is uploading
 * (not expired, not purged), for a file of several parts, not yet complete (a file of one
 * part may be sent again until packaging starts), and while every recipient's inbox has room
 * for it (`quota`: parts uploaded at once cannot overfill an inbox together). Then, if every part of the file is in, the
 * file is complete; if every file is, the transfer moves to packaging.
 */
export async function recordPart(db: D1Database, p: PartRow, partCount: number, now: number, quota: InboxQuota): Promise<PartRecorded> {
  const q = { t: "?1", idx: "?2", part: "?3", size: "?4", now: "?5", max: "?6", step: "?7" };
  const [old, put, full, complete, start, count, t, f, parts] = await db.batch([
    db.prepare("SELECT object_key FROM file_parts WHERE transfer_id = ?1 AND idx = ?2 AND part = ?3").bind(p.transfer_id, p.idx, p.part),
    db
      .prepare(
        `INSERT INTO file_parts (transfer_id, idx, part, size, etag, object_key)
         SELECT ?1, ?2, ?3, ?4, ?8, ?9
         WHERE ${TAKES_PART} AND NOT EXISTS (${fullRecipients(q)})
         ON CONFLICT (transfer_id, idx, part) DO UPDATE SET size = excluded.size, etag = excluded.etag, object_key = excluded.object_key`,
      )
      .bind(p.transfer_id, p.idx, p.part, p.size, now, quota.max, quota.step, p.etag, p.object_key),
    // which inboxes were full, only when the part was not recorded (changes(): the INSERT just
    // before, in this same transaction) though the file took it: the answer says why without
    // looking again later (none: the transfer or the file took no more parts)
    db.prepare(fullRecipients({ ...q, only: `changes() = 0 AND ${TAKES_PART}` })).bind(p.transfer_id, p.idx, p.part, p.size, now, quota.max, quota.step),
    db
      .prepare(
        `UPDATE transfer_files SET completed_at = ?3
         WHERE transfer_id = ?1 AND idx = ?2 AND completed_at IS NULL
           AND (SELECT COUNT(*) FROM file_parts WHERE transfer_id = ?1 AND idx = ?2) = ?4`,
      )
      .bind(p.transfer_id, p.idx, now, partCount),
    startPackagingStatement(db, p.transfer_id),
    db.prepare("SELECT COUNT(*) AS n FROM transfer_files WHERE transfer_id = ?").bind(p.transfer_id),
    // read back in the same transaction: the answer to the upload needs no second round trip
    db.prepare("SELECT * FROM transfers WHERE id = ?").bind(p.transfer_id),
    db.prepare("SELECT * FROM transfer_files WHERE transfer_id = ? AND idx = ?").bind(p.transfer_id, p.idx),
    db.prepare("SELECT * FROM file_parts WHERE transfer_id = ? AND idx = ? ORDER BY part").bind(p.transfer_id, p.idx),
  ]);
  const files = (count!.results as Array<{ n: number }>)[0]!.n;
  const transfer = (t!.results as TransferRow[])[0];
  const file = (f!.results as FileRow[])[0] ?? null;
  const before = (old!.results as Array<{ object_key: string | null }>)[0]?.object_key ?? null;
  const recorded = put!.meta.changes === 1;
  const inboxes = (full!.results as Array<{ id: string }>).map((r) => r.id);
  return {
    recorded,
    refused: recorded ? null : inboxes.length > 0 ? "inbox_full" : "closed",
    full: inboxes,
    replaced: recorded && before !== null && before !== p.object_key ? before : null,
    fileCompleted: complete!.meta.changes === 1,
    packagingStarted: start!.meta.changes === 1,
    files,
    after: transfer ? { transfer, file, parts: parts!.results as PartRow[], fileCount: files } : null,
  };
}

const startPackagingStatement = (db: D1Database, transferId: string) =>
  db
    .prepare(
      `UPDATE transfers SET status = 'packaging'
       WHERE id = ?1 AND status = 'uploading'
         AND NOT EXISTS (SELECT 1 FROM transfer_files WHERE transfer_id = ?1 AND completed_at IS NULL)`,
    )
    .bind(transferId);

/** uploading → packaging once every file is complete; true only for the caller that moved it. */
export async function startPackaging(db: D1Database, transferId: string): Promise<boolean> {
  return (await startPackagingStatement(db, transferId).run()).meta.changes === 1;
}

export async function setStatus(
  db: D1Database,
  transferId: string,
  to: TransferStatus,
  from: readonly TransferStatus[],
  extra: { failure?: string } = {},
): Promise<boolean> {
  const res = await db
    .prepare(
      `UPDATE transfers SET status = ?1, failure = COALESCE(?2, failure)
       WHERE id = ?3 AND status IN (SELECT value FROM json_each(?4))`,
    )
    .bind(to, extra.failure ?? null, transferId, JSON.stringify(from))
    .run();
  return res.meta.changes === 1;
}

/** Remembers why a packaging attempt failed (shown if the transfer ends failed). */
export async function noteFailure(db: D1Database, transferId: string, reason: string): Promise<void> {
  await db
    .prepare("UPDATE transfers SET failure = ? WHERE id = ? AND status = 'packaging'")
    .bind(reason.slice(0, 500), transferId)
    .run();
}

/** What packaging learns of each file, stored in its row. */
export interface PackagedFile {
  idx: number;
  sha256: string;
  crc32: number;
  method: number;
  data_offset: number;
  stored_size: number;
}

/** Records the finished package and moves packaging → ready (its lease ends with it), in one transaction. */
export async function finishPackaging(
  db: D1Database,
  transferId: string,
  pkg: { size: number; sha256: string },
  entries: readonly PackagedFile[],
): Promise<boolean> {
  const results = await db.batch([
    db
      .prepare(
        `UPDATE transfer_files SET
           sha256 = json_extract(e.value, '$.sha256'), crc32 = json_extract(e.value, '$.crc32'),
           method = json_extract(e.value, '$.method'), data_offset = json_extract(e.value, '$.data_offset'),
           stored_size = json_extract(e.value, '$.stored_size')
         FROM json_each(?2) AS e
         WHERE transfer_files.transfer_id = ?1 AND transfer_files.idx = json_extract(e.value, '$.idx')`,
      )
      .bind(transferId, JSON.stringify(entries)),
    db
      .prepare(
        `UPDATE transfers SET status = 'ready', package_size = ?2, package_sha256 = ?3, package_upload_id = NULL,
           package_lease_until = NULL
         WHERE id = ?1 AND status = 'packaging'`,
      )
      .bind(transferId, pkg.size, pkg.sha256),
  ]);
  return results[1]!.meta.changes === 1;
}

export async function markNotified(
  db: D1Database,
  transferId: string,
  terminalId: string,
  channel: "socket" | "push",
  now: number,
): Promise<void> {
  await db
    .prepare(
      `UPDATE recipients SET notified_at = ?4, channel = ?3
       WHERE transfer_id = ?1 AND terminal_id = ?2 AND notified_at IS NULL`,
    )
    .bind(transferId, terminalId, channel, now)
    .run();
}

/** Transfers due for cleanup: expired and not yet purged. */
export async function dueForExpiry(db: D1Database, now: number, limit: number): Promise<TransferRow[]> {
  const { results } = await db
    .prepare("SELECT * FROM transfers WHERE purged_at IS NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?")
    .bind(now, limit)
    .all<TransferRow>();
  return results;
}

/**
 * Transfers in `packaging`, not yet expired, whose last file arrived before `before` and
 * that no attempt is working on: packaging never started (no lease, no package upload: the
 * queue message was lost, the send failed after the status moved), or the packaging lease
 * ran out at `now` (its holder died without releasing it; the duplicates it made ack
 * themselves away). A live lease means a holder is still at it: left alone.
 */
export async function stalledPackaging(db: D1Database, before: number, now: number, limit = 100): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT t.id FROM transfers t
       WHERE t.status = 'packaging' AND t.expires_at > ?2
         AND ((t.package_upload_id IS NULL AND t.package_lease_until IS NULL) OR t.package_lease_until < ?2)
         AND (SELECT MAX(completed_at) FROM transfer_files f WHERE f.transfer_id = t.id) < ?1
       LIMIT ?3`,
    )
    .bind(before, now, limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Moves a transfer to its end state after its objects are gone. Returns the previous status. */
export async function markPurged(
  db: D1Database,
  transferId: string,
  now: number,
  endStatus: "expired" | "cancelled",
): Promise<TransferStatus | null> {
  const row = await db
    .prepare(
      `UPDATE transfers SET purged_at = ?2,
         status = CASE WHEN status IN ('delivered', 'cancelled', 'failed') THEN status ELSE ?3 END
       WHERE id = ?1 AND purged_at IS NULL
       RETURNING status`,
    )
    .bind(transferId, now, endStatus)
    .first<{ status: TransferStatus }>();
  return row?.status ?? null;
}

/** Forgets a transfer entirely (a one-shot send whose upload failed: nothing was accepted). */
export async function deleteTransfer(db: D1Database, transferId: string): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM file_parts WHERE transfer_id = ?").bind(transferId),
    db.prepare("DELETE FROM transfer_files WHERE transfer_id = ?").bind(transferId),
    db.prepare("DELETE FROM recipients WHERE transfer_id = ?").bind(transferId),
    db.prepare("DELETE FROM transfers WHERE id = ?").bind(transferId),
  ]);
}

// ---- the packaging lease (transfers.package_lease_until, migration 0002) ---------------------

/** What `claimPackageLease` found: the lease is ours (`lease`, its end, is our token) or why not. */
export interface PackageLeaseClaim {
  /** the end of the lease we now hold, or null if we did not get it */
  lease: number | null;
  /** the transfer's state after the attempt; status null: no such transfer */
  status: TransferStatus | null;
  purged_at: number | null;
  /** the transfer as it is after the attempt (read in the same transaction) */
  record: TransferRecord | null;
}

/**
 * Takes the packaging lease of a transfer in `packaging` unless another attempt holds a live
 * one: the lease runs until `now + leaseMs`, and reads the whole transfer record with it.
 * Atomic (one D1 transaction), so of two attempts at once exactly one gets it. The end time doubles as the holder's token: a later claim
 * can only take over an expired lease, so its end is always later, never equal.
 */
export async function claimPackageLease(db: D1Database, transferId: string, now: number, leaseMs: number): Promise<PackageLeaseClaim> {
  const until = now + leaseMs;
  const [claim, ...record] = await db.batch([
    db
      .prepare(
        `UPDATE transfers SET package_lease_until = ?3
         WHERE id = ?1 AND status = 'packaging' AND purged_at IS NULL
           AND (package_lease_until IS NULL OR package_lease_until < ?2)`,
      )
      .bind(transferId, now, until),
    ...recordStatements(db, transferId),
  ]);
  const rec = recordFrom(record);
  return {
    lease: claim!.meta.changes === 1 ? until : null,
    status: rec?.transfer.status ?? null,
    purged_at: rec?.transfer.purged_at ?? null,
    record: rec,
  };
}

/**
 * Extends a lease its holder still holds (`lease` is its current end) to `until`, while the
 * transfer is packaging; returns the new end, or null when the lease is no longer that one.
 */
export async function renewPackageLease(db: D1Database, transferId: string, lease: number, until: number): Promise<number | null> {
  const res = await db
    .prepare("UPDATE transfers SET package_lease_until = ?3 WHERE id = ?1 AND package_lease_until = ?2 AND status = 'packaging'")
    .bind(transferId, lease, until)
    .run();
  return res.meta.changes === 1 ? until : null;
}

/** Gives the lease up, if it is still the one `lease` names (a holder never frees a successor's). */
export async function releasePackageLease(db: D1Database, transferId: string, lease: number): Promise<void> {
  await db
    .prepare("UPDATE transfers SET package_lease_until = NULL WHERE id = ? AND package_lease_until = ?")
    .bind(transferId, lease)
    .run();
}

// ---- transfers of deleted terminals (migration 0003) ----------------------------------------

/** Transfers a terminal sent that are neither delivered nor ended. */
export async function undeliveredSentBy(db: D1Database, senderId: string): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM transfers
       WHERE sender_id = ? AND status IN ('uploading', 'packaging', 'ready') AND purged_at IS NULL
       ORDER BY created_at`,
    )
    .bind(senderId)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Senders that were deleted with such transfers left (their DELETE did not finish). */
export async function deletedSendersWithTransfers(db: D1Database, limit = 100): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT DISTINCT t.sender_id AS id FROM transfers t JOIN terminals s ON s.id = t.sender_id
       WHERE s.deleted_at IS NOT NULL AND t.status IN ('uploading', 'packaging', 'ready') AND t.purged_at IS NULL
       LIMIT ?`,
    )
    .bind(limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

// ---- quotas (src/limits/quotas.ts) -----------------------------------------------------------

/**
 * When the `n`th newest transfer a sender created since `since` was created, or null when it
 * created fewer than `n` since then (the transfers-per-hour quota: if there is one, it must
 * age out of the window before another is allowed).
 */
export async function nthRecentTransferAt(db: D1Database, senderId: string, since: number, n: number): Promise<number | null> {
  const row = await db
    .prepare("SELECT created_at FROM transfers WHERE sender_id = ?1 AND created_at > ?2 ORDER BY created_at DESC LIMIT 1 OFFSET ?3")
    .bind(senderId, since, n - 1)
    .first<{ created_at: number }>();
  return row?.created_at ?? null;
}

/**
 * The inbox of a terminal: the transfers it has received that are ready or delivered, not
 * expired nor purged, whose maxDownloads is not used up (unless this terminal may still finish
 * its own download: its start is less than FINISH_MS old), newest first, as whole records. One D1 round trip (one batch, one
 * transaction) whatever its length: the transfers, their files, parts and recipients, each
 * chosen by the same inbox query (before: one query for the ids, then four per transfer).
 */
export async function inboxRecords(db: D1Database, terminalId: string, now: number, limit = 200): Promise<TransferRecord[]> {
  const ids = `SELECT t.id FROM recipients r JOIN transfers t ON t.id = r.transfer_id
       WHERE r.terminal_id = ?1 AND t.status IN ('ready', 'delivered') AND t.expires_at > ?2 AND t.purged_at IS NULL
         AND (t.max_downloads IS NULL OR t.downloads < t.max_downloads OR r.started_at > ?2 - ${FINISH_MS})
       ORDER BY t.created_at DESC, t.id LIMIT ?3`;
  const [t, f, p, r] = await db.batch([
    db.prepare(`SELECT * FROM transfers WHERE id IN (${ids}) ORDER BY created_at DESC, id`).bind(terminalId, now, limit),
    db.prepare(`SELECT * FROM transfer_files WHERE transfer_id IN (${ids}) ORDER BY transfer_id, idx`).bind(terminalId, now, limit),
    db.prepare(`SELECT * FROM file_parts WHERE transfer_id IN (${ids}) ORDER BY transfer_id, idx, part`).bind(terminalId, now, limit),
    db.prepare(`SELECT * FROM recipients WHERE transfer_id IN (${ids}) ORDER BY transfer_id, position`).bind(terminalId, now, limit),
  ]);
  const group = <R extends { transfer_id: string }>(rows: R[]) => {
    const by = new Map<string, R[]>();
    for (const row of rows) {
      const list = by.get(row.transfer_id);
      if (list) list.push(row);
      else by.set(row.transfer_id, [row]);
    }
    return by;
  };
  const files = group(f!.results as FileRow[]);
  const parts = group(p!.results as PartRow[]);
  const recipients = group(r!.results as RecipientRow[]);
  return (t!.results as TransferRow[]).map((transfer) => ({
    transfer,
    files: files.get(transfer.id) ?? [],
    parts: parts.get(transfer.id) ?? [],
    recipients: recipients.get(transfer.id) ?? [],
  }));
}
