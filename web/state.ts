import { PushdropClient, type LiveChannel } from "../client";
import type { KeyState } from "./seal/device-key";
import type { Settings } from "./settings";
import type * as store from "./store";

/**
 * What every screen shares: the API client, this device (id, token, name), the live channel
 * and the server's settings for this device. app.ts fills it in as the page starts.
 */
export const app: {
  client: PushdropClient;
  device: store.Device | null;
  channel: LiveChannel | null;
  settings: Settings | null;
  /** this device's age key, made, published and checked as the page starts (seal/device-key.ts) */
  deviceKey: Promise<KeyState> | null;
} = {
  client: new PushdropClient({ server: location.origin }),
  device: null,
  channel: null,
  settings: null,
  deviceKey: null,
};

export const params = new URLSearchParams(location.search);
