/**
 * Media types: a guess from the file name when the sender gave none, and which types
 * are already compressed (stored in the package as they are; deflating them again would
 * cost CPU and gain nothing).
 */

const BY_EXT: Record<string, string> = {
  txt: "text/plain", md: "text/markdown", csv: "text/csv", html: "text/html", htm: "text/html",
  css: "text/css", js: "text/javascript", mjs: "text/javascript", json: "application/json",
  xml: "application/xml", svg: "image/svg+xml", pdf: "application/pdf",
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp",
  avif: "image/avif", heic: "image/heic", heif: "image/heif", bmp: "image/bmp", ico: "image/x-icon",
  tif: "image/tiff", tiff: "image/tiff",
  mp3: "audio/mpeg", m4a: "audio/mp4", aac: "audio/aac", ogg: "audio/ogg", opus: "audio/opus",
  flac: "audio/flac", wav: "audio/wav",
  mp4: "video/mp4", m4v: "video/mp4", mov: "video/quicktime", webm: "video/webm", mkv: "video/x-matroska",
  avi: "video/x-msvideo",
  zip: "application/zip", gz: "application/gzip", tgz: "application/gzip", bz2: "application/x-bzip2",
  xz: "application/x-xz", zst: "application/zstd", "7z": "application/x-7z-compressed",
  rar: "application/vnd.rar", apk: "application/vnd.android.package-archive",
  epub: "application/epub+zip",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odt: "application/vnd.oasis.opendocument.text", ods: "application/vnd.oasis.opendocument.spreadsheet",
  wasm: "application/wasm",
};

export const DEFAULT_TYPE = "application/octet-stream";

export function guessType(name: string): string {
  const dot = name.lastIndexOf(".");
  if (dot < 0) return DEFAULT_TYPE;
  return BY_EXT[name.slice(dot + 1).toLowerCase()] ?? DEFAULT_TYPE;
}

const COMPRESSED_PREFIX = ["image/", "video/", "audio/"];
const COMPRESSED = new Set([
  "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2", "application/x-xz",
  "application/zstd", "application/x-7z-compressed", "application/vnd.rar", "application/x-rar-compressed",
  "application/pdf", "application/epub+zip", "application/vnd.android.package-archive", "application/java-archive",
  "application/x-compress", "application/x-lzip", "application/x-lz4", "font/woff", "font/woff2",
]);
const UNCOMPRESSED_EXCEPTIONS = new Set(["image/svg+xml", "image/bmp", "image/x-icon", "image/tiff", "audio/wav", "audio/x-wav"]);

export function isCompressedType(type: string): boolean {
  const t = type.split(";")[0]!.trim().toLowerCase();
  if (UNCOMPRESSED_EXCEPTIONS.has(t)) return false;
  if (COMPRESSED.has(t)) return true;
  if (t.startsWith("application/vnd.openxmlformats") || t.startsWith("application/vnd.oasis.opendocument")) return true;
  return COMPRESSED_PREFIX.some((p) => t.startsWith(p));
}
