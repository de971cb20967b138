import { ApiError, NetworkError, describeError } from "../client";
import { idText, names } from "./format";
import { t } from "./i18n/runtime";

/**
 * An error in plain words for the page, in the visitor's language: an API error's code is
 * worded by the catalog (`error.<code>`); the server's English `message` shows only for a code
 * the catalog has no words for. A few read better said from the person's side ("No device has
 * the id …").
 */
export function plainError(e: unknown): string {
  if (e instanceof ApiError) {
    const details = (e.details ?? {}) as { missing?: string[]; refused?: string[] };
    switch (e.code) {
      case "terminal_not_found":
        if (details.missing?.length) return t("error.terminal_not_found_ids", { ids: names(details.missing.map(idText)) });
        return t("error.terminal_not_found");
      case "rate_limited":
        return e.retryAfter !== undefined ? t("error.rate_limited_after", { seconds: e.retryAfter }) : t("error.rate_limited");
      case "body_too_large":
        return t("error.too_large", { detail: e.message });
      case "unauthorized":
      case "forbidden":
        return t("error.unauthorized");
    }
    const key = `error.${e.code}`;
    const words = t(key);
    if (words !== key) return words;
    return t("error.unknown", { message: describeError(e) });
  }
  if (e instanceof NetworkError) return t("error.network");
  if (e instanceof Error && e.name === "AbortError") return t("error.stopped");
  return t("error.unknown", { message: describeError(e) });
}
