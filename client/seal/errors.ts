/** Why a seal could not be made or opened; `code` says which rule it broke. */
export type SealErrorCode =
  | "bad_recipient" // not an age X25519 recipient, or one given twice
  | "bad_seal" // seal.age is not a seal document this module writes
  | "seal_mismatch" // seal.age does not describe the transfer it came with
  | "size_mismatch" // a file's size is not what the seal says
  | "checksum_mismatch"; // a file's SHA-256 is not what the seal says

export class SealError extends Error {
  override readonly name = "SealError";
  constructor(
    readonly code: SealErrorCode,
    message: string,
  ) {
    super(message);
  }
}
