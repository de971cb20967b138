import { h } from "./dom";

/**
 * File names that stay readable: a long name keeps its start and its end (where photo numbers
 * and extensions are), `IMG_2024_07_1…_0314.jpg`, with the whole name as the element's title
 * (hover, long-press) and for screen readers; and a name wraps after `_`, `-`, `.` or a space
 * rather than in the middle of a word.
 */

/** Cuts the middle of a name longer than `max` characters (counting code points). */
export function middleEllipsis(name: string, max: number): string {
  const chars = [...name];
  if (chars.length <= max) return name;
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 && name.length - dot <= 8 ? [...name.slice(dot)].length : 0;
  const tail = Math.min(chars.length - 1, Math.max(ext + 5, Math.floor(max * 0.4)));
  const head = Math.max(1, max - tail - 1);
  return `${chars.slice(0, head).join("")}…${chars.slice(chars.length - tail).join("")}`;
}

/** Text with a line-break opportunity after each separator. */
export function breakable(text: string): Array<Node> {
  const out: Node[] = [];
  for (const piece of text.split(/(?<=[_\-.\s/])/)) {
    if (out.length) out.push(h("wbr"));
    out.push(document.createTextNode(piece));
  }
  return out;
}

/** How many characters of a name fit: fewer on a phone. */
export const nameRoom = () => (matchMedia("(min-width: 900px)").matches ? 48 : 26);

/** A file name for the page: shortened in the middle when long, whole in `title` and for screen readers. */
export function fileName(name: string, max = nameRoom()): HTMLSpanElement {
  const shown = middleEllipsis(name, max);
  if (shown === name) return h("span", { class: "fname", title: name }, ...breakable(name));
  return h("span", { class: "fname", title: name }, h("span", { "aria-hidden": "true" }, ...breakable(shown)), h("span", { class: "sr" }, name));
}
