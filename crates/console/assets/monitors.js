// Live cameras: the monitors with their state and counters (refreshed
// every 2 s), adding and removing one (admin), and the events of every
// monitor as they happen, read from the server's event streams.
import { h, append, table, field, confirmButton, errorBox, when, fixed } from './dom.js';
import * as api from './api.js';
import { roleButton, roleNote } from './collections.js';

// Events shown, newest first.
const SHOWN_EVENTS = 50;

export async function monitors(view) {
  view.append(h('h1', {}, 'Cameras'));
  const status = h('div', { id: 'monitors-status' });
  const list = h('div');
  const events = h('ol', { id: 'monitor-events', class: 'events', 'aria-live': 'polite' });
  const streams = new Map();
  const names = new Map();
  function stopAll() {
    for (const stop of streams.values()) stop();
    streams.clear();
  }
  window.addEventListener('hashchange', stopAll, { once: true });
  window.addEventListener('facekit:refused', stopAll, { once: true });

  function show(kind, event) {
    const who = event.person ? `${event.name || event.person} (${event.person})` : (event.detail || '');
    events.prepend(h('li', { class: kind },
      h('time', {}, when(event.time)), ' ',
      h('strong', {}, names.get(event.monitor) || event.monitor), ' ',
      h('code', {}, kind), ' ', who,
      event.score !== undefined ? ` ${fixed(event.score, 2)}` : ''));
    while (events.children.length > SHOWN_EVENTS) events.lastElementChild.remove();
  }

  async function refresh() {
    const all = (await api.call('GET', '/v1/monitors')).monitors;
    for (const m of all) {
      names.set(m.id, m.name || m.id);
      if (!streams.has(m.id)) streams.set(m.id, api.stream(api.path('monitors', m.id, 'events', 'stream'), show));
    }
    for (const [id, stop] of streams) {
      if (!all.some((m) => m.id === id)) { stop(); streams.delete(id); }
    }
    const rows = all.map((m) => [
      h('span', { class: 'monitor-name' }, m.name || m.id),
      h('code', {}, m.source),
      m.collection,
      h('span', { class: `state ${m.status.state}`, 'data-monitor': m.id }, m.status.state,
        m.status.last_error ? h('small', { class: 'last-error' }, m.status.last_error) : null),
      `${m.status.frames_analysed} / ${m.status.frames_dropped}`,
      String(m.status.events),
      `${fixed(m.status.lag_seconds, 2)} s`,
      api.can('admin') ? confirmButton('Delete', async () => {
        try {
          await api.call('DELETE', api.path('monitors', m.id));
          status.replaceChildren(h('p', { class: 'ok' }, `Deleted ${m.name || m.id} and its events.`));
          await refresh();
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      }, { 'aria-label': `Delete monitor ${m.name || m.id}`, 'data-monitor': m.id }) : '',
    ]);
    // A delete pressed once waits for its second press: keep its button.
    const armed = [...list.querySelectorAll('button.danger')].some((b) => b.textContent.startsWith('Confirm'));
    if (armed) return;
    list.replaceChildren(table('Monitors', ['Name', 'Source', 'Collection', 'State', 'Analysed / dropped', 'Events', 'Lag', ''], rows, { id: 'monitors-table' }));
  }

  const name = h('input', { id: 'monitor-name', maxlength: 200 });
  const source = h('input', { id: 'monitor-source', required: true, maxlength: 2048, placeholder: 'rtsp://user:password@camera/stream' });
  const collection = h('select', { id: 'monitor-collection' },
    (await api.collections()).map((c) => h('option', { value: c.name }, c.name)));
  const rate = h('input', { id: 'monitor-fps', type: 'number', min: '0.1', max: '30', step: '0.1', value: '2' });
  const form = h('form', { class: 'card', id: 'create-monitor' },
    h('h2', {}, 'New monitor'),
    h('div', { class: 'row' }, field('Name', name), field('Source', source, 'Shown with its password hidden from now on'),
      field('Collection', collection), field('Frames analysed per second', rate)),
    roleButton('admin', 'Start watching'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api.call('POST', '/v1/monitors', {
        json: { name: name.value, source: source.value, collection: collection.value, analysis_fps: Number(rate.value) },
      });
      source.value = '';
      status.replaceChildren(h('p', { class: 'ok' }, `Watching ${created.source} as ${created.id}.`));
      await refresh();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  });
  append(view, [roleNote('admin', 'adding or removing monitors'), status, form, list, h('h2', {}, 'Events as they happen'), events]);
  await refresh();
  const timer = setInterval(async () => {
    if (!view.isConnected) {
      clearInterval(timer);
      stopAll();
      return;
    }
    try { await refresh(); } catch { /* shown on the next page load */ }
  }, 2000);
}
