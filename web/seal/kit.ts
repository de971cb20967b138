import type { PushdropClient } from "../../client";
import type * as Dom from "../dom";
import type * as Errors from "../errors";
import type * as Format from "../format";
import type * as Runtime from "../i18n/runtime";
import type * as Names from "../names";
import type * as List from "../received-list";
import type * as Text from "../text";

/**
 * What the sealed screens' lazy chunks use of the app's first load, handed to them by the
 * caller (received-list.ts) instead of imported: a lazy chunk that imported these modules would
 * make the bundler split them out of the first load into a shared chunk, which costs the first
 * load more gzipped bytes than all of this (the app shell's budget, scripts/build-web.mjs).
 * Only types are imported here.
 */
export interface Kit {
  h: typeof Dom.h;
  fill: typeof Dom.fill;
  t: typeof Runtime.t;
  size: typeof Format.size;
  fileName: typeof Names.fileName;
  linkify: typeof Text.linkify;
  copy: typeof List.copy;
  plainError: typeof Errors.plainError;
  client: PushdropClient;
}

export let K: Kit;
export const setKit = (kit: Kit) => void (K = kit);
