// Collections: their counts, creating and deleting them (admin); and the
// collection chooser the other pages share.
import { h, table, field, confirmButton, errorBox, when } from './dom.js';
import * as api from './api.js';

// The collection last chosen on any page (memory only).
let chosen = null;

// A <select> of the collections, calling `onchange(name)` with the choice;
// resolves to { element, value() }. Empty when there is no collection.
export async function collectionPicker(preferred, onchange) {
  const names = (await api.collections()).map((c) => c.name);
  const select = h('select', { id: 'collection', name: 'collection' },
    names.map((n) => h('option', { value: n }, n)));
  const initial = [preferred, chosen].find((n) => n && names.includes(n)) || names[0];
  if (initial) select.value = initial;
  chosen = select.value || null;
  select.addEventListener('change', () => {
    chosen = select.value;
    if (onchange) onchange(select.value);
  });
  const element = names.length
    ? field('Collection', select)
    : h('p', { class: 'muted' }, 'There is no collection yet: create one on ', h('a', { href: '#/collections' }, 'Collections'), '.');
  return { element, value: () => select.value || null };
}

// A button that needs a role: disabled, with the reason, for weaker keys.
export function roleButton(role, text, props = {}) {
  const allowed = api.can(role);
  return h('button', {
    type: 'submit',
    ...props,
    disabled: !allowed,
    title: allowed ? undefined : `Needs the ${role} role; this key is a ${api.session.info.role}`,
  }, text);
}

export function roleNote(role, what) {
  return api.can(role) ? null
    : h('p', { class: 'note role-note' }, `This key is a ${api.session.info.role}: ${what} needs the ${role} role.`);
}

export async function collections(view) {
  view.append(h('h1', {}, 'Collections'));
  const list = h('div');
  const status = h('div');
  view.append(status, list);

  async function refresh() {
    const all = await api.collections();
    const stats = await Promise.all(all.map((c) => api.call('GET', api.path('collections', c.name))));
    const rows = stats.map((s) => [
      h('a', { href: `#/people?c=${encodeURIComponent(s.collection.name)}` }, s.collection.name),
      s.collection.index,
      s.collection.review,
      String(s.persons),
      String(s.samples),
      when(s.collection.created_at),
      api.can('admin')
        ? confirmButton('Delete', async () => {
          try {
            await api.call('DELETE', api.path('collections', s.collection.name));
            status.replaceChildren(h('p', { class: 'ok' }, `Deleted ${s.collection.name} and erased its faces.`));
            await refresh();
          } catch (error) {
            status.replaceChildren(errorBox(error));
          }
        }, { 'aria-label': `Delete collection ${s.collection.name}` })
        : '',
    ]);
    list.replaceChildren(table('Collections', ['Name', 'Index', 'Review', 'People', 'Faces', 'Created', ''], rows, { id: 'collections-table' }));
  }

  const name = h('input', { id: 'new-collection', required: true, maxlength: 200 });
  const index = h('select', { id: 'new-index' }, ['exact', 'int8', 'hnsw'].map((k) => h('option', { value: k }, k)));
  const review = h('select', { id: 'new-review' }, ['off', 'standard', 'strict'].map((k) => h('option', { value: k }, k)));
  const form = h('form', { class: 'card', id: 'create-collection' },
    h('h2', {}, 'New collection'),
    roleNote('admin', 'creating a collection'),
    h('div', { class: 'row' },
      field('Name', name),
      field('Index', index, 'exact: brute force; int8: 4× smaller; hnsw: approximate, for large galleries'),
      field('Enrollment review', review)),
    roleButton('admin', 'Create collection'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api.call('POST', '/v1/collections', { json: { name: name.value, index: index.value, review: review.value } });
      status.replaceChildren(h('p', { class: 'ok' }, `Created ${created.name}.`));
      name.value = '';
      await refresh();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  });
  view.append(form);
  await refresh();
}
