/** The typed client of pushdrop's API: requests, uploads with resume, downloads, the live channel. */
export { PushdropClient, type ClientOptions, type NewTransfer, type PutFn, type RequestOptions } from "./api";
export { ApiError, NetworkError, describeError, isTransient, networkReason, retryDelayMs } from "./errors";
export { isWhole, missingParts, resumeUpload, sleep, uploadFiles, type UploadOptions, type UploadProgress, type UploadResult } from "./upload";
export { LiveChannel, type ChannelState, type LiveChannelOptions, type WebSocketFactory, type WebSocketLike } from "./socket";
export { RateMeter, formatBytes, formatDuration } from "./rate";
export { formatTerminalId, normalizeTerminalId } from "../src/contract/ids";
