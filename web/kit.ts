import { $, announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { bidi, idText, names, size } from "./format";
import { parseTerminalIdInput } from "./i18n/format";
import { t } from "./i18n/runtime";
import { app } from "./state";
import * as store from "./store";

/**
 * What the sealed-transfer chunks (web/seal/*.ts, loaded with import()) use of the app shell,
 * handed to them as one object: a lazy chunk that imported these modules itself would make the
 * bundler split the shell into shared chunks, and the first load would grow (gzip compresses
 * one file better than several). Lazy chunks import only types from the shell.
 */
export const kit = { app, t, $, h, fill, show, announce, plainError, bidi, idText, names, size, store, parseTerminalIdInput };
export type Kit = typeof kit;
