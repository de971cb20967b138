import { z } from "zod";
import { normalizeTerminalId, TRANSFER_ID_RE } from "./ids";

/** A terminal id as a person types it ("123 456 789", "123-456-789"), normalised to digits. */
export const TerminalId = z
  .string()
  .max(32)
  .transform((s, ctx) => {
    const id = normalizeTerminalId(s);
    if (!id) {
      ctx.addIssue({
        code: "custom",
        message: `"${s.slice(0, 32)}" is not a terminal id (9 digits; the last is a check digit, so a typo is caught)`,
      });
      return z.NEVER;
    }
    return id;
  });

export const TransferId = z.string().regex(TRANSFER_ID_RE, "not a transfer id");

export const iso = (ms: number) => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null | undefined) => (ms == null ? null : iso(ms));
