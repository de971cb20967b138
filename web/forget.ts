import type { Kit } from "./kit";
import { clearIdentities } from "./shared/keystore";

/**
 * *Forget this device* (a lazy chunk, loaded on the tap): the server deletes the id, this
 * browser forgets its id, token, push subscription and its keys for sealed transfers (nothing
 * sealed to the deleted id can reach it again), and the page starts again.
 */
export async function forget(kit: Kit): Promise<void> {
  const { app, $, store } = kit;
  const device = app.device;
  if (!device) return;
  const button = $<HTMLButtonElement>("forget");
  button.disabled = true;
  try {
    await app.client.deleteTerminal(device.id);
  } catch (e) {
    // a server without DELETE /v1/terminals/{id} (v1.1), or an id already gone: forget it here all the same
    const gone = [401, 403, 404, 405].includes((e as { status?: number }).status ?? 0); // (no ApiError import: it would split the shell)
    if (!gone) {
      button.disabled = false;
      const box = $("me-error");
      kit.fill(box, kit.h("p", null, kit.t("me.forgetFailed", { error: kit.plainError(e) })));
      kit.show(box, true);
      return;
    }
  }
  app.channel?.close();
  try {
    const reg = await navigator.serviceWorker?.getRegistration();
    await (await reg?.pushManager?.getSubscription())?.unsubscribe();
  } catch {
    // no subscription to end
  }
  store.clearAll();
  await clearIdentities().catch(() => undefined); // (no IndexedDB: nothing was kept)
  location.replace("/?forgotten=1");
}


