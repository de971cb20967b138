/**
 * Sealed transfers (issue 23; docs/security.md): the one module that owns keys, fingerprints,
 * and sealing and opening, over `age-encryption` (typage; it does all the cryptography). The
 * web app loads it as a lazy chunk (only when sealing or opening); the CLI bundles it.
 *
 * Sending: a key pair per device (generateIdentity / generateDeviceIdentity), the recipients'
 * keys from `GET /v1/terminals/{id}` (isRecipient), each file's sealed size before the upload
 * (sealedSize), each file sealed as a stream while it is hashed (sealStream), then seal.age
 * (sealPlainSize before the transfer exists, sealDocument once its id is known).
 * Receiving: openSeal (decrypts seal.age and refuses one that does not match the transfer),
 * then openStream per file (fails at its end on a wrong size or SHA-256).
 * Trust: fingerprint, safetyNumber, verifySafetyNumber; decideTrust/acceptKey (which key to seal
 * to: pins, share-link keys, key changes), shareLink/parseShareLink (`/?to=<id>#k=age1…`).
 */
export { SealError, type SealErrorCode } from "./errors";
export {
  generateDeviceIdentity,
  generateIdentity,
  isIdentityString,
  isRecipient,
  recipientBytes,
  recipientOf,
  type AgeIdentity,
  type DeviceKeyPair,
  type KeyPair,
  type WebCryptoKey,
} from "./keys";
export { AGE_CHUNK, paddedSize, recipientsFor, SEAL_PAD_FILES, SEAL_PAD_TEXT, sealedSize } from "./size";
export { checkSealedTo, hashing, keysSaid, openStream, sealStream, type Digest, type Expected, type HeaderSeen, type Sealed } from "./stream";
export { allowWasmSha256, sha256Hasher, type Sha256, type Sha256Kind } from "./sha256";
export {
  checkSeal,
  decodeSeal,
  encodeSeal,
  openSeal,
  sealDocument,
  sealedFileSpecs,
  sealFileSize,
  sealKeyCounts,
  sealPlainSize,
  type SealDraft,
  type SealedTransfer,
} from "./document";
export { fingerprint, formatDigits, safetyNumber, verifySafetyNumber, type PublishedKey } from "./safety";
export { SEAL_NAME, SEALED_TYPE, sealDocumentProblem, sealedFileName, type SealDocument, type SealedFile } from "../../src/contract/seal";
export { acceptKey, decideTrust, parseShareLink, shareLink, type Pin, type TrustDecision, type TrustInput } from "./trust";
