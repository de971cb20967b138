/**
 * `Range: bytes=…` (RFC 9110 §14). One range is honoured; several are answered with the
 * whole representation (allowed by the RFC, and simpler for every client than
 * multipart/byteranges); a malformed or unsatisfiable one is a 416. A range unit other than
 * bytes is ignored, as §14.2 requires of an origin server (the whole representation).
 */
export type RangeRequest =
  | { kind: "none" }
  | { kind: "range"; start: number; end: number } // inclusive
  | { kind: "unsatisfiable" }
  | { kind: "invalid" };

export function parseRange(header: string | null, size: number): RangeRequest {
  if (header === null) return { kind: "none" };
  const unit = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=/.exec(header);
  if (unit && unit[1]!.toLowerCase() !== "bytes") return { kind: "none" }; // a unit we do not know
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) return { kind: "invalid" };
  const specs = m[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (specs.length === 0) return { kind: "invalid" };
  const parsed: Array<{ start: number; end: number } | null> = [];
  for (const spec of specs) {
    const r = /^(\d*)-(\d*)$/.exec(spec);
    if (!r || (r[1] === "" && r[2] === "")) return { kind: "invalid" };
    // any number of digits is valid (RFC 9110); a last-pos past the end is clamped below
    if (r[1]!.length > 40 || r[2]!.length > 40) return { kind: "invalid" };
    if (r[1] === "") {
      const suffix = Number(r[2]);
      parsed.push(suffix === 0 || size === 0 ? null : { start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(r[1]);
    const end = r[2] === "" ? size - 1 : Number(r[2]);
    if (r[2] !== "" && end < start) return { kind: "invalid" }; // "5-1"; but "N-" past the end is unsatisfiable
    parsed.push(start >= size ? null : { start, end: Math.min(end, size - 1) });
  }
  const satisfiable = parsed.filter((p): p is { start: number; end: number } => p !== null);
  if (satisfiable.length === 0) return { kind: "unsatisfiable" };
  if (specs.length > 1) return { kind: "none" };
  return { kind: "range", ...satisfiable[0]! };
}

/** Whether an `If-None-Match` header matches a strong ETag. */
export function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
