/**
 * What the Received screen does only when a person asks (Copy, Share), or when a transfer
 * arrives while the page is hidden: a lazy chunk, so the app's first load stays within its
 * budget (scripts/build-web.mjs). It imports nothing of the first load (a lazy chunk that did
 * would split those modules out of it): words and notices come in as arguments.
 */

/** Copies text; the button says `copied` (or `failed`) for a moment. */
export async function copy(text: string, button: HTMLButtonElement | undefined, copied: string, failed: string): Promise<boolean> {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // older browsers, or no permission: the selection way
    const area = document.createElement("textarea");
    area.className = "sr";
    area.readOnly = true;
    area.value = text;
    document.body.append(area);
    area.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = ok ? copied : failed;
    setTimeout(() => (button.textContent = label), 2000);
  }
  return ok;
}

/** Share: the file is fetched (a download, as the server counts it) and handed to the system's share sheet. */
export async function shareFile(url: string, name: string, type: string): Promise<void> {
  try {
    const blob = await (await fetch(url)).blob();
    await navigator.share({ files: [new File([blob], name, { type: type || blob.type })] });
  } catch {
    // cancelled, or the sheet refused: the Download button still saves it
  }
}

/** A system notification through the service worker (the page is open but hidden). */
export async function notify(n: { title: string; body: string; tag: string; url: string; transferId: string }): Promise<void> {
  try {
    const reg = await navigator.serviceWorker.getRegistration("/");
    await reg?.showNotification(n.title, { body: n.body, tag: n.tag, icon: "/icons/icon-192.png", badge: "/icons/badge-96.png", data: { url: n.url, transferId: n.transferId } });
  } catch {
    // the inbox shows it when the page is seen
  }
}
