import type { Kit } from "./kit";

/**
 * Scanning another device's QR code with the camera: BarcodeDetector where the browser has it
 * (Android Chrome, Safari 17+, macOS Chrome), else jsQR, fetched from this server only now.
 * Resolves with the terminal id and the key its share link carried (`#k=age1…`, null without
 * one: the caller pins it as verified, web/seal/trust.ts), or null when the person closes the
 * scanner. A lazy chunk (loaded when Scan is tapped): it uses the shell through `kit`.
 */
declare class BarcodeDetector {
  constructor(opts: { formats: string[] });
  static getSupportedFormats(): Promise<string[]>;
  detect(source: CanvasImageSource): Promise<Array<{ rawValue: string }>>;
}

type Detect = (video: HTMLVideoElement) => Promise<string | null>;

export interface Scanned {
  id: string;
  key: string | null;
}

/** A terminal id from a QR code's text: a share link (…/?to=578418129#k=age1…) or the digits. */
function idFromQr(kit: Kit, text: string): Scanned | null {
  let candidate = text.trim();
  let key: string | null = null;
  try {
    const url = new URL(candidate);
    const to = url.searchParams.get("to");
    if (to) candidate = to;
    key = new URLSearchParams(url.hash.slice(1)).get("k");
  } catch {
    // not a URL: digits, perhaps
  }
  const id = kit.parseTerminalIdInput(candidate);
  return id ? { id, key } : null;
}

async function detector(): Promise<Detect> {
  if ("BarcodeDetector" in window) {
    try {
      if ((await BarcodeDetector.getSupportedFormats()).includes("qr_code")) {
        const d = new BarcodeDetector({ formats: ["qr_code"] });
        return async (v) => (await d.detect(v))[0]?.rawValue ?? null;
      }
    } catch {
      // fall through to jsQR
    }
  }
  const { decodeQr } = await import("./qr-decode");
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  return async (v) => {
    const w = v.videoWidth;
    const hgt = v.videoHeight;
    if (!w || !hgt) return null;
    const scale = Math.min(1, 720 / Math.max(w, hgt));
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(hgt * scale);
    ctx.drawImage(v, 0, 0, canvas.width, canvas.height);
    return decodeQr(ctx.getImageData(0, 0, canvas.width, canvas.height));
  };
}

function cameraError(t: Kit["t"], e: unknown): string {
  const name = e instanceof Error ? e.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") return t("scan.notAllowed");
  if (name === "NotFoundError" || name === "OverconstrainedError") return t("scan.noCamera");
  return t("scan.failed");
}

export async function scanForId(kit: Kit): Promise<Scanned | null> {
  const { $, t } = kit;
  const dialog = $<HTMLDialogElement>("scan-dialog");
  const video = $<HTMLVideoElement>("scan-video");
  const note = $("scan-note");
  note.textContent = t("scan.point");
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
  } catch (e) {
    throw new Error(cameraError(t, e));
  }
  video.srcObject = stream;
  dialog.showModal();
  return new Promise<Scanned | null>((resolve) => {
    let finished = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (id: Scanned | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      for (const t of stream.getTracks()) t.stop();
      video.srcObject = null;
      if (dialog.open) dialog.close();
      resolve(id);
    };
    dialog.addEventListener("close", () => finish(null), { once: true });
    void video.play().catch(() => {});
    void detector().then((detect) => {
      const tick = async () => {
        if (finished) return;
        try {
          const text = await detect(video);
          if (text) {
            const id = idFromQr(kit, text);
            if (id) return finish(id);
            note.textContent = t("scan.notAnId");
          }
        } catch {
          // a frame that could not be read: try the next
        }
        timer = setTimeout(tick, 150);
      };
      void tick();
    });
  });
}
