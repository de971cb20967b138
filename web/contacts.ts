import { formatTerminalId } from "../src/contract/ids";
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
          { type: "button", class: "chip", "aria-label": `${c.name || "Device"}, ${formatTerminalId(c.id)}`, onclick: () => onPick(c) },
          h("span", { class: "chip-name" }, c.name || "Device"),
          h("span", { class: "chip-id" }, formatTerminalId(c.id)),
        ),
        h("button", { type: "button", class: "chip-x", "aria-label": `Forget ${c.name || formatTerminalId(c.id)}`, onclick: () => onForget(c) }, "×"),
      ),
    ),
  );
}
