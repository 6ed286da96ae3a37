// Enrolling photos: several at once (chosen or dropped), for an existing
// person or a new one, each photo's result or refusal shown as it comes.
import { h, field, errorBox, fixed } from './dom.js';
import * as api from './api.js';
import { collectionPicker, roleButton, roleNote } from './collections.js';

function reasons(error) {
  const refused = Array.isArray(error.details) ? error.details : [];
  return refused.length
    ? h('ul', { class: 'reasons' }, refused.flatMap((r) => (r.refusals || []).map((x) => h('li', {}, h('code', {}, x.reason), ' ', x.message))))
    : null;
}

async function ensurePerson(collection, key, name) {
  const url = api.path('collections', collection, 'persons', key);
  try {
    await api.call('GET', url);
    return false;
  } catch (error) {
    if (error.status !== 404) throw error;
  }
  await api.call('POST', api.path('collections', collection, 'persons'), { json: { key, name: name || key } });
  return true;
}

export async function enroll(view, params) {
  view.append(h('h1', {}, 'Enroll'));
  const known = h('datalist', { id: 'known-people' });
  const picker = await collectionPicker(params.get('c'), (c) => listPeople(c));
  async function listPeople(collection) {
    if (!collection) return;
    const page = await api.call('GET', api.path('collections', collection, 'persons'), { query: { limit: 1000 } });
    known.replaceChildren(...page.persons.map((p) => h('option', { value: p.key }, p.name)));
  }
  const key = h('input', { id: 'person-key', list: 'known-people', required: true, value: params.get('p') || '', autocomplete: 'off' });
  const name = h('input', { id: 'person-display-name' });
  const review = h('select', { id: 'review' },
    h('option', { value: '' }, "the collection's"),
    ['off', 'standard', 'strict'].map((m) => h('option', { value: m }, m)));
  const allFaces = h('input', { type: 'checkbox', id: 'all-faces' });
  const files = h('input', { type: 'file', id: 'photos', multiple: true, accept: 'image/*' });
  const drop = h('label', { class: 'drop', for: 'photos' }, 'Drop photos here, or choose them');
  const chosen = h('p', { class: 'muted', id: 'chosen' });
  let dropped = null;
  files.addEventListener('change', () => { dropped = null; chosen.textContent = `${files.files.length} photo(s) chosen`; });
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    dropped = [...event.dataTransfer.files].filter((f) => f.type.startsWith('image/'));
    chosen.textContent = `${dropped.length} photo(s) dropped`;
  });
  const results = h('ol', { id: 'enroll-results', class: 'results' });
  const status = h('div');

  const form = h('form', { class: 'card', id: 'enroll-form' },
    roleNote('writer', 'enrolling'),
    picker.element, known,
    h('div', { class: 'row' },
      field('Person key', key, 'an existing person, or a new key to create them'),
      field('Name (for a new person)', name)),
    h('div', { class: 'row' },
      field('Review', review),
      h('div', { class: 'field check' }, allFaces, h('label', { for: 'all-faces' }, 'every face of each photo, not only the largest'))),
    drop, files, chosen,
    roleButton('writer', 'Enroll', { id: 'enroll-button' }),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!api.can('writer')) return;
    const collection = picker.value();
    const photos = dropped || [...files.files];
    status.replaceChildren();
    if (!collection || !key.value.trim() || !photos.length) {
      status.replaceChildren(errorBox({ message: 'Choose a collection, a person key and at least one photo.' }));
      return;
    }
    const person = key.value.trim();
    try {
      if (await ensurePerson(collection, person, name.value.trim())) {
        status.replaceChildren(h('p', { class: 'ok' }, `Created the person ${person}.`));
      }
    } catch (error) {
      status.replaceChildren(errorBox(error));
      return;
    }
    results.replaceChildren();
    for (const photo of photos) {
      const item = h('li', { class: 'pending' }, h('strong', {}, photo.name), ': sending…');
      results.append(item);
      const body = new FormData();
      body.append('image', photo, photo.name);
      if (review.value) body.append('review', review.value);
      if (allFaces.checked) body.append('all_faces', 'true');
      try {
        const answer = await api.call('POST', `${api.path('collections', collection, 'persons', person, 'faces')}`, { form: body });
        item.className = 'enrolled';
        item.replaceChildren(h('strong', {}, photo.name), ': enrolled ',
          answer.faces.map((f) => `face ${f.id} (detection ${fixed(f.det_score)}${f.quality ? `, quality ${fixed(f.quality.score, 2)}` : ''})`).join(', '),
          answer.refused.length ? ` · ${answer.refused.length} face(s) refused` : '');
      } catch (error) {
        item.className = 'refused';
        item.replaceChildren(h('strong', {}, photo.name), ': not enrolled', errorBox(error), reasons(error));
      }
    }
    await listPeople(collection);
  });
  view.append(form, h('h2', {}, 'Results'), results);
  await listPeople(picker.value());
}
