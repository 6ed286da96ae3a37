// API keys (admin): create one (its token is shown once), list, revoke.
import { h, append, table, field, confirmButton, errorBox, when } from './dom.js';
import * as api from './api.js';
import { roleButton, roleNote } from './collections.js';

export async function keys(view) {
  view.append(h('h1', {}, 'API keys'));
  const status = h('div', { id: 'keys-status' });
  const list = h('div');
  append(view, [roleNote('admin', 'managing keys'), status]);
  if (!api.can('admin')) return;

  async function refresh() {
    const all = (await api.call('GET', '/v1/keys')).keys;
    const rows = all.map((k) => [
      h('code', {}, k.id),
      h('span', { class: 'key-name' }, k.name),
      k.role,
      when(k.created_at),
      k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active',
      k.revoked_at || k.id === api.session.info.key_id ? '' : confirmButton('Revoke', async () => {
        try {
          await api.call('DELETE', api.path('keys', k.id));
          status.replaceChildren(h('p', { class: 'ok' }, `Revoked ${k.id}: it is refused from now on.`));
          await refresh();
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      }, { 'aria-label': `Revoke key ${k.id}`, 'data-key': k.id }),
    ]);
    list.replaceChildren(table('Keys, oldest first', ['Id', 'Name', 'Role', 'Created', 'State', ''], rows, { id: 'keys-table' }));
  }

  const name = h('input', { id: 'new-key-name', required: true, maxlength: 200 });
  const role = h('select', { id: 'new-key-role' }, ['reader', 'writer', 'admin'].map((r) => h('option', { value: r }, r)));
  const form = h('form', { class: 'card', id: 'create-key' },
    h('h2', {}, 'New key'),
    h('div', { class: 'row' }, field('What it is for', name), field('Role', role)),
    roleButton('admin', 'Create key'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api.call('POST', '/v1/keys', { json: { name: name.value, role: role.value } });
      name.value = '';
      const token = h('output', { id: 'new-token', class: 'token' }, created.token);
      const copy = h('button', { type: 'button', class: 'quiet', onclick: () => navigator.clipboard.writeText(created.token) }, 'Copy');
      status.replaceChildren(h('div', { class: 'card shown-once' },
        h('p', {}, h('strong', {}, `Key ${created.key.id} (${created.key.role})`), ': this token is shown only now. The server keeps only its hash.'),
        h('p', {}, token, ' ', copy)));
      await refresh();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  });
  view.append(form, list);
  await refresh();
}
