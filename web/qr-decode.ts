import jsQR from "jsqr";

/**
 * The QR decoder for browsers without BarcodeDetector (Firefox, desktop Chromium on Linux and
 * Windows, Safari before 17): jsQR, pure JavaScript, bundled here and loaded only when a scan
 * starts, so the first load stays small.
 */
export function decodeQr(image: ImageData): string | null {
  return jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" })?.data ?? null;
}
