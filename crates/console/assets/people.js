// People of a collection (search, paging) and one person: their samples and
// metadata, renaming, deleting them or one sample. Names and metadata are
// shown as text.
import { h, table, field, confirmButton, errorBox, when, fixed } from './dom.js';
import * as api from './api.js';
import { collectionPicker, roleButton, roleNote } from './collections.js';

const PAGE = 20;

function personLink(collection, person, text) {
  const query = new URLSearchParams({ c: collection, p: person });
  return h('a', { href: `#/person?${query}` }, text);
}

export async function people(view, params) {
  view.append(h('h1', {}, 'People'));
  const results = h('div', { id: 'people-results' });
  const picker = await collectionPicker(params.get('c'), () => { offset = 0; load(); });
  const search = h('input', { type: 'search', id: 'person-search', placeholder: 'key or name', value: params.get('q') || '' });
  let offset = 0;

  async function load() {
    const collection = picker.value();
    if (!collection) return;
    try {
      const page = await api.call('GET', api.path('collections', collection, 'persons'), { query: { offset, limit: PAGE, q: search.value.trim() } });
      const rows = page.persons.map((p) => [
        personLink(collection, p.key, p.key),
        h('span', { class: 'person-name' }, p.name),
        String(p.samples),
        p.suggested ? 'suggested by clustering' : '',
        when(p.created_at),
      ]);
      const last = Math.min(offset + page.persons.length, page.total);
      const previous = h('button', { type: 'button', class: 'quiet', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, 'Previous');
      const next = h('button', { type: 'button', class: 'quiet', disabled: last >= page.total, onclick: () => { offset += PAGE; load(); } }, 'Next');
      results.replaceChildren(
        table(`People in ${collection}`, ['Key', 'Name', 'Faces', '', 'Created'], rows, { id: 'people-table' }),
        h('div', { class: 'pager' }, previous, h('span', {}, page.total ? `${offset + 1}–${last} of ${page.total}` : 'none'), next));
    } catch (error) {
      results.replaceChildren(errorBox(error));
    }
  }

  const form = h('form', { class: 'row', role: 'search' }, picker.element, field('Search', search), h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (event) => { event.preventDefault(); offset = 0; load(); });
  view.append(form, results);
  await load();
}

export async function person(view, params) {
  const collection = params.get('c');
  const key = params.get('p');
  const status = h('div', { id: 'person-status' });
  const url = api.path('collections', collection, 'persons', key);
  const found = await api.call('GET', url);
  const faces = (await api.call('GET', `${url}/faces`)).faces;
  view.append(
    h('p', {}, h('a', { href: `#/people?c=${encodeURIComponent(collection)}` }, `← People in ${collection}`)),
    h('h1', { id: 'person-name' }, found.name),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Key'), h('dd', { id: 'person-key' }, found.key),
      h('dt', {}, 'Faces'), h('dd', {}, String(found.samples)),
      h('dt', {}, 'Created'), h('dd', {}, when(found.created_at)),
      h('dt', {}, 'Metadata'), h('dd', {}, h('pre', { id: 'person-metadata' }, JSON.stringify(found.metadata, null, 2)))),
    status);

  const name = h('input', { id: 'rename', value: found.name, required: true });
  const metadata = h('textarea', { id: 'metadata', rows: 4 }, JSON.stringify(found.metadata, null, 2));
  const edit = h('form', { class: 'card', id: 'edit-person' },
    h('h2', {}, 'Change'),
    roleNote('writer', 'changing a person'),
    field('Name', name),
    field('Metadata (JSON)', metadata),
    roleButton('writer', 'Save'));
  edit.addEventListener('submit', async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(metadata.value || '{}');
    } catch (error) {
      status.replaceChildren(errorBox({ message: `The metadata is not JSON: ${error.message}` }));
      return;
    }
    try {
      await api.call('PATCH', url, { json: { name: name.value, metadata: parsed } });
      location.hash = `#/person?${new URLSearchParams({ c: collection, p: key, saved: Date.now() })}`;
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  });

  const rows = faces.map((f) => [
    String(f.id),
    when(f.created_at),
    f.bbox ? f.bbox.map((v) => Math.round(v)).join(', ') : '',
    fixed(f.det_score),
    fixed(f.embedding_norm, 2),
    f.image_sha256 ? h('code', { title: f.image_sha256 }, f.image_sha256.slice(0, 12)) : '',
    api.can('writer') ? confirmButton('Delete', async () => {
      try {
        await api.call('DELETE', api.path('collections', collection, 'faces', f.id));
        location.hash = `#/person?${new URLSearchParams({ c: collection, p: key, deleted: f.id })}`;
      } catch (error) {
        status.replaceChildren(errorBox(error));
      }
    }, { 'aria-label': `Delete face ${f.id}` }) : '',
  ]);
  view.append(
    table('Faces (no images are kept: only the embedding, box and a hash of the photo)', ['Id', 'Enrolled', 'Box', 'Detection', 'Norm', 'Photo SHA-256', ''], rows, { id: 'faces-table' }),
    h('p', {}, h('a', { href: `#/enroll?${new URLSearchParams({ c: collection, p: key })}` }, 'Enroll more photos of this person')),
    edit);
  if (api.can('writer')) {
    view.append(h('div', { class: 'card' }, h('h2', {}, 'Delete'),
      h('p', {}, 'Deletes the person and erases every face sample of theirs from the gallery file.'),
      confirmButton('Delete person', async () => {
        try {
          await api.call('DELETE', url);
          location.hash = `#/people?c=${encodeURIComponent(collection)}`;
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      }, { id: 'delete-person' })));
  }
}
