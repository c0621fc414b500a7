/** Small DOM helpers for the panel's views. */

/** A DOM element with attributes and children. */
export function h(
  tag: string,
  attributes: Record<string, string>,
  ...children: (Node | string)[]
): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

/** A JupyterLab-styled button. */
export function button(label: string, extra = '', type = 'button'): HTMLButtonElement {
  const classes = `jp-Button jp-mod-styled ${extra}`.trim();
  return h('button', { type, class: classes }, label) as HTMLButtonElement;
}

/** "1 request", "2 requests". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
