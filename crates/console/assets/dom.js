// Building the page from data. Every value becomes a text node or an
// attribute value, never markup, so a person named "<img onerror=…>" shows
// as those characters. No code of the console assigns HTML to an element.

// h('button', { class: 'x', onclick: fn, disabled: true }, 'text', child…)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else if (typeof value !== 'string' && name in el) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  return append(el, children);
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// A table; `rows` are arrays of cells (strings or nodes). It scrolls
// sideways inside its box on narrow screens instead of widening the page.
export function table(caption, headers, rows, props = {}) {
  return h('div', { class: 'scroll' },
    h('table', props,
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.length
        ? rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))
        : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'Nothing yet.')))));
}

// A labelled form control.
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h('div', { class: 'field' },
    h('label', { for: id }, label), control, hint ? h('small', {}, hint) : null);
}

// A button whose first press arms it and whose second (within 4 s) acts,
// for deletions: no browser dialog, works the same with the keyboard.
export function confirmButton(text, action, props = {}) {
  let armed = null;
  const button = h('button', { type: 'button', class: 'danger', ...props }, text);
  button.addEventListener('click', async () => {
    if (!armed) {
      button.textContent = `Confirm: ${text.toLowerCase()}`;
      armed = setTimeout(() => { armed = null; button.textContent = text; }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.textContent = text;
    await action();
  });
  return button;
}

// An error as the page shows it; a 403 is named as the role refusal it is.
export function errorBox(error) {
  const title = error.status === 403 ? 'Not allowed (403)'
    : error.status === 401 ? 'Key refused (401)'
      : error.status ? `Error ${error.status}` : 'Error';
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, title), ' ',
    error.code ? h('code', {}, error.code) : null, ' ',
    h('span', { class: 'message' }, error.message));
}

export function when(unixSeconds) {
  return unixSeconds ? new Date(unixSeconds * 1000).toLocaleString() : '';
}

export function fixed(value, digits = 3) {
  return typeof value === 'number' ? value.toFixed(digits) : '';
}
