import { idText } from "./format";
import { bidi } from "./format";
import { formatTerminalIdAscii } from "./i18n/format";
import { t } from "./i18n/runtime";
import { fill, h, show } from "./dom";
import type { Contact } from "./store";

/**
 * Remembered devices under the Recipient field: every device this one sent to or received
 * from, newest first. One tap puts its id in the field.
 */
export function renderContacts(
  list: HTMLUListElement,
  contacts: Contact[],
  onPick: (c: Contact) => void,
  onForget: (c: Contact) => void,
): void {
  show(list, contacts.length > 0);
  fill(
    list,
    contacts.slice(0, 8).map((c) =>
      h(
        "li",
        null,
        h(
          "button",
          { type: "button", class: "chip", "aria-label": t("send.contactLabel", { name: c.name ? bidi(c.name) : t("device.unnamed"), id: idText(c.id) }), onclick: () => onPick(c) },
          h("bdi", { class: "chip-name" }, c.name || t("device.unnamed")),
          h("bdi", { class: "chip-id", dir: "ltr" }, formatTerminalIdAscii(c.id)),
        ),
        h("button", { type: "button", class: "chip-x", "aria-label": t("send.forgetContact", { name: c.name ? bidi(c.name) : idText(c.id) }), onclick: () => onForget(c) }, "×"),
      ),
    ),
  );
}
