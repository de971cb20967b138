/**
 * A sealed file's streamed save (issue 23), as the page (web/seal/save.ts) hands it to the
 * service worker (web/sw/seal.ts): the job goes over a MessageChannel, then a hidden frame
 * navigates to `SAVE_PATH<id>/<name>`, which only the service worker answers (the server has no
 * such path: without a service worker it is a 404).
 */
export const SAVE_PATH = "/_sealed/";

export interface SaveJob {
  /** random, one per save */
  id: string;
  /** the age file's signed download link */
  url: string;
  /** the real name (saveName: cleaned, no folders) */
  name: string;
  /** plaintext bytes, as the seal says */
  size: number;
  /** the age file's bytes, as the transfer says */
  sealedSize: number;
  /** plaintext SHA-256 (hex), as the seal says */
  sha256: string;
  /** this device's id: its keys (web/shared/keystore.ts) */
  terminalId: string;
}

/** What the service worker says back on the job's channel. */
export type SaveReport =
  | { type: "ready" }
  | { type: "progress"; bytes: number }
  | { type: "done" }
  | { type: "failed"; code: string; message: string };
