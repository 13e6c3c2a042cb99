import { type ElementMaker, renderWith } from "./page/dom.js";

/**
 * Elements as the page's h() builds them, written out as HTML: what the server needs to send a
 * view's first paint (src/serve/first-view.ts). Only what h() uses is here (attributes, children,
 * text); every text and attribute value is escaped, so nothing from the index becomes markup.
 */

const TEXT_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => TEXT_ESCAPES[c]);

/** Tag and attribute names come from the page's code; anything else is a bug, not input. */
const NAME = /^[a-z][a-z0-9-]*$/;

class MarkupText {
  constructor(readonly text: string) {}
  get outerHTML(): string {
    return escapeHtml(this.text);
  }
}

class MarkupElement {
  private readonly attributes = new Map<string, string>();
  private readonly children: (MarkupElement | MarkupText)[] = [];

  constructor(readonly tag: string) {
    if (!NAME.test(tag)) throw new Error(`not a tag name: ${tag}`);
  }

  setAttribute(name: string, value: string): void {
    if (!NAME.test(name)) throw new Error(`not an attribute name: ${name}`);
    this.attributes.set(name, value);
  }

  append(...nodes: (MarkupElement | MarkupText | string)[]): void {
    for (const n of nodes) this.children.push(typeof n === "string" ? new MarkupText(n) : n);
  }

  get outerHTML(): string {
    const attrs = [...this.attributes].map(([k, v]) => ` ${k}="${escapeHtml(v)}"`).join("");
    return `<${this.tag}${attrs}>${this.children.map((c) => c.outerHTML).join("")}</${this.tag}>`;
  }
}

const markupMaker = {
  createElement: (tag: string) => new MarkupElement(tag),
  createTextNode: (text: string) => new MarkupText(text),
} as unknown as ElementMaker;

/** Renders what `render` builds with h() as HTML text. */
export function renderMarkup(render: () => HTMLElement): string {
  return (renderWith(markupMaker, render) as unknown as MarkupElement).outerHTML;
}
