/**
 * `Content-Disposition: attachment` per RFC 6266: an ASCII `filename` for old clients and
 * a `filename*` (RFC 8187, UTF-8) that carries any name exactly: accents, CJK, emoji,
 * quotes, semicolons. Nothing in a name can end the header or inject another.
 */
export function contentDisposition(name: string, type: "attachment" | "inline" = "attachment"): string {
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, "");
  const fallback = clean.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/[^\x20-\x7e]|["\\%;]/g, "_") || "download";
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${type}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
