import { $, announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { bidi, idText, names, size } from "./format";
import { parseTerminalIdInput } from "./i18n/format";
import { t } from "./i18n/runtime";
import { fileName } from "./names";
import { waitable } from "./outbox";
import { copy } from "./received-list";
import { app } from "./state";
import * as store from "./store";
import { linkify } from "./text";

/**
 * What the lazy chunks (web/seal/*.ts, forget, scan, device-name; loaded with import()) use of
 * the app shell, handed to them as one object: a lazy chunk that imported these modules itself
 * would make the bundler split the shell into shared chunks, and the first load would grow (gzip
 * compresses one file better than several). Lazy chunks import only types from the shell.
 */
export const kit = {
  app,
  t,
  $,
  h,
  fill,
  show,
  announce,
  plainError,
  bidi,
  idText,
  names,
  size,
  fileName,
  linkify,
  // (called through: received-list.ts imports this module, and may be evaluated first)
  copy: (text: string, button?: HTMLButtonElement) => copy(text, button),
  store,
  parseTerminalIdInput,
  waitable,
};
export type Kit = typeof kit;
