import { ApiError, NetworkError, describeError } from "../client";
import { formatTerminalId } from "../src/contract/ids";

/**
 * An error in plain words for the page. The server's messages are sentences already; a few
 * common ones read better said from the person's side ("No device has the id …").
 */
export function plainError(e: unknown): string {
  if (e instanceof ApiError) {
    const details = (e.details ?? {}) as { missing?: string[]; refused?: string[] };
    switch (e.code) {
      case "terminal_not_found":
        if (details.missing?.length) return `No device has the id ${details.missing.map(formatTerminalId).join(", ")}. Check the number.`;
        return "No device has that id. Check the number.";
      case "recipient_refused":
        return "The recipient does not take transfers from this device.";
      case "rate_limited":
        return `Too many requests for now.${e.retryAfter !== undefined ? ` Try again in ${e.retryAfter} s.` : " Try again in a moment."}`;
      case "body_too_large":
      case "package_too_large":
      case "names_too_long":
        return `Too large to send: ${e.message}`;
      case "unauthorized":
      case "forbidden":
        return "This device's id is no longer valid here. Forget it and get a new one.";
      case "transfer_expired":
        return "This transfer has expired.";
      case "transfer_cancelled":
        return "The sender cancelled this transfer.";
      case "internal_error":
        return "Something went wrong on the server. Try again in a moment.";
    }
    return describeError(e);
  }
  if (e instanceof NetworkError) return "No connection to pushdrop. Check your network.";
  return describeError(e);
}
