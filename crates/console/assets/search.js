// Identify (who is each face of a photo?) and compare (are two photos the
// same person?). The photo is drawn from memory with its boxes; it leaves
// the browser only in the API call.
import { h, field, errorBox, fixed } from './dom.js';
import * as api from './api.js';
import { collectionPicker, roleButton } from './collections.js';

// The photo on a canvas, each box outlined and numbered.
async function drawn(file, boxes) {
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = h('canvas', {
      class: 'photo', width: img.naturalWidth, height: img.naturalHeight,
      role: 'img', 'aria-label': `${file.name}, ${boxes.length} face(s) marked`,
    });
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const line = Math.max(2, Math.round(img.naturalWidth / 300));
    ctx.lineWidth = line;
    ctx.font = `${line * 8}px sans-serif`;
    boxes.forEach(({ bbox, label, good }) => {
      const [x1, y1, x2, y2] = bbox;
      ctx.strokeStyle = good ? '#1a9b4b' : '#d9480f';
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      const width = ctx.measureText(label).width + line * 2;
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillRect(x1, Math.max(0, y1 - line * 10), width, line * 10);
      ctx.fillStyle = '#fff';
      ctx.fillText(label, x1 + line, Math.max(line * 8, y1 - line * 2));
    });
    return canvas;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function thresholdInput() {
  return h('input', { type: 'number', id: 'threshold', min: -1, max: 1, step: 0.01, value: String(api.session.info.threshold) });
}

export async function identify(view, params) {
  view.append(h('h1', {}, 'Identify'));
  const picker = await collectionPicker(params.get('c'));
  const file = h('input', { type: 'file', id: 'identify-photo', accept: 'image/*', required: true });
  const threshold = thresholdInput();
  const topK = h('input', { type: 'number', id: 'top-k', min: 1, max: 100, value: '3' });
  const status = h('div');
  const output = h('div', { id: 'identify-results' });
  const form = h('form', { class: 'card', id: 'identify-form' },
    picker.element,
    field('Photo', file),
    h('div', { class: 'row' },
      field('Threshold (cosine)', threshold, 'a best match below it is "unknown"'),
      field('Matches per face', topK)),
    roleButton('reader', 'Identify', { id: 'identify-button' }),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const photo = file.files[0];
    if (!photo || !picker.value()) {
      status.replaceChildren(errorBox({ message: 'Choose a collection and a photo.' }));
      return;
    }
    status.replaceChildren(h('p', { class: 'muted' }, 'Identifying…'));
    output.replaceChildren();
    const body = new FormData();
    body.append('image', photo, photo.name);
    body.append('threshold', threshold.value);
    body.append('top_k', topK.value);
    try {
      const answer = await api.call('POST', api.path('collections', picker.value(), 'identify'), { form: body });
      status.replaceChildren();
      const faces = answer.faces;
      const boxes = faces.map((f, i) => ({ bbox: f.face.bbox, label: `${i + 1} ${f.best ? f.best.name : 'unknown'}`, good: !!f.best }));
      const rows = faces.map((f, i) => h('tr', { class: 'face-result' },
        h('td', {}, String(i + 1)),
        h('td', { class: 'match-name' }, f.best ? f.best.name : 'unknown'),
        h('td', { class: 'match-score' }, f.best ? fixed(f.best.score) : (f.matches[0] ? fixed(f.matches[0].score) : '')),
        h('td', {}, f.matches.map((m) => `${m.name} ${fixed(m.score)}`).join(' · '))));
      output.append(
        await drawn(photo, boxes),
        h('div', { class: 'scroll' }, h('table', { id: 'identify-table' },
          h('caption', {}, `${faces.length} face(s); threshold ${fixed(answer.threshold, 2)}`),
          h('thead', {}, h('tr', {}, ['Face', 'Best match', 'Score', 'Top matches'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, rows))));
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  });
  view.append(form, output);
}

export async function compare(view) {
  view.append(h('h1', {}, 'Compare'));
  const first = h('input', { type: 'file', id: 'compare-1', accept: 'image/*', required: true });
  const second = h('input', { type: 'file', id: 'compare-2', accept: 'image/*', required: true });
  const threshold = thresholdInput();
  const status = h('div');
  const output = h('div', { id: 'compare-results' });
  const form = h('form', { class: 'card', id: 'compare-form' },
    h('div', { class: 'row' }, field('First photo', first), field('Second photo', second)),
    field('Threshold (cosine)', threshold),
    roleButton('reader', 'Compare', { id: 'compare-button' }),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const [a, b] = [first.files[0], second.files[0]];
    if (!a || !b) {
      status.replaceChildren(errorBox({ message: 'Choose two photos.' }));
      return;
    }
    status.replaceChildren(h('p', { class: 'muted' }, 'Comparing…'));
    output.replaceChildren();
    const body = new FormData();
    body.append('image1', a, a.name);
    body.append('image2', b, b.name);
    body.append('threshold', threshold.value);
    try {
      const answer = await api.call('POST', '/v1/compare', { form: body });
      status.replaceChildren();
      output.append(
        h('p', { class: answer.same ? 'ok verdict' : 'verdict' }, answer.same ? 'Same person' : 'Different people',
          ` · score ${fixed(answer.score)} (threshold ${fixed(answer.threshold, 2)})`),
        h('div', { class: 'pair' },
          await drawn(a, [{ bbox: answer.face1.bbox, label: '1', good: answer.same }]),
          await drawn(b, [{ bbox: answer.face2.bbox, label: '2', good: answer.same }])));
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  });
  view.append(form, output);
}
