import { h } from "./dom";

/**
 * A sender's text as nodes: plain text, with http(s) links made clickable (opened in a new tab,
 * without an opener or a referrer). Any other scheme (javascript:, data:, file:) stays text.
 */
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

export function linkify(text: string): Node[] {
  const out: Node[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let link = m[0];
    // trailing punctuation belongs to the sentence, and a ")" only when it has no "(" in the link
    while (/[.,;:!?'")\]}]$/.test(link)) {
      if (link.endsWith(")") && link.split("(").length > link.split(")").length - 1) break;
      link = link.slice(0, -1);
    }
    const start = m.index;
    const href = safeHref(link);
    if (!href) continue;
    if (start > last) out.push(document.createTextNode(text.slice(last, start)));
    out.push(h("a", { href, rel: "noopener noreferrer", target: "_blank" }, link));
    last = start + link.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

function safeHref(s: string): string | null {
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}
