// The server at a glance: health, version, models and contract, the
// collections' counts, and requests and latency from /metrics.
import { h, table, errorBox, fixed } from './dom.js';
import * as api from './api.js';

// Prometheus text format: [{ name, labels: {…}, value }].
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

// Requests and latency per route: count, errors, mean and p95 (the upper
// edge of the bucket the 95th percentile falls in).
function routeFigures(samples) {
  const routes = new Map();
  const of = (route) => {
    if (!routes.has(route)) routes.set(route, { count: 0, errors: 0, sum: 0, buckets: [] });
    return routes.get(route);
  };
  for (const s of samples) {
    if (s.name === 'facekit_http_requests_total') {
      const r = of(s.labels.route);
      if (Number(s.labels.status) >= 400) r.errors += s.value;
    } else if (s.name === 'facekit_http_request_duration_seconds_count') {
      of(s.labels.route).count = s.value;
    } else if (s.name === 'facekit_http_request_duration_seconds_sum') {
      of(s.labels.route).sum = s.value;
    } else if (s.name === 'facekit_http_request_duration_seconds_bucket') {
      of(s.labels.route).buckets.push([Number(s.labels.le), s.value]);
    }
  }
  return [...routes].filter(([, r]) => r.count > 0).map(([route, r]) => {
    r.buckets.sort((a, b) => a[0] - b[0]);
    const p95 = (r.buckets.find(([, n]) => n >= 0.95 * r.count) || [Infinity])[0];
    return { route, ...r, mean: r.sum / r.count, p95 };
  }).sort((a, b) => b.count - a.count);
}

function ms(seconds) {
  return Number.isFinite(seconds) ? `${(seconds * 1000).toFixed(1)} ms` : '> largest bucket';
}

async function status(url) {
  try {
    return (await api.call('GET', url)).status;
  } catch (error) {
    return `${error.status || ''} ${error.message}`;
  }
}

export async function dashboard(view) {
  const { info } = api.session;
  view.append(h('h1', {}, 'Dashboard'));
  const [health, ready, metricsText, collections] = await Promise.all([
    status('/healthz'), status('/readyz'), api.call('GET', '/metrics').catch((e) => e), api.collections(),
  ]);
  const contract = info.contract;
  view.append(h('div', { class: 'cards' },
    h('div', { class: 'card stat' }, h('span', {}, 'Health'), h('strong', { id: 'health' }, health)),
    h('div', { class: 'card stat' }, h('span', {}, 'Readiness'), h('strong', {}, ready)),
    h('div', { class: 'card stat' }, h('span', {}, 'Version'), h('strong', { id: 'version' }, info.version)),
    h('div', { class: 'card stat' }, h('span', {}, 'Collections'), h('strong', {}, String(collections.length))),
    h('div', { class: 'card stat' }, h('span', {}, 'Default threshold'), h('strong', {}, fixed(info.threshold, 2))),
    h('div', { class: 'card stat' }, h('span', {}, 'Liveness'), h('strong', {}, info.liveness))));

  view.append(h('h2', {}, 'Models'),
    table(`Pack ${info.pack}`, ['File', 'Task', 'Status'], info.models.map((m) => [m.file, m.task || '', m.status]), { id: 'models-table' }),
    contract
      ? h('p', {}, 'Embedding contract: ', h('code', { title: contract.model_sha256 }, contract.model_sha256.slice(0, 16)),
        ` · ${contract.dimension} dimensions · ${contract.preprocessing}`)
      : h('p', { class: 'note' }, 'The pack has no recognition model: detection only.'));

  const counts = await Promise.all(collections.map((c) => api.call('GET', api.path('collections', c.name))));
  view.append(h('h2', {}, 'Collections'),
    table('Counts', ['Collection', 'Index', 'People', 'Faces', 'Index memory'],
      counts.map((s) => [s.collection.name, s.collection.index, String(s.persons), String(s.samples), `${(s.index_bytes / 1024).toFixed(0)} KiB`])));

  view.append(h('h2', {}, 'Requests since start'));
  if (metricsText instanceof Error) {
    view.append(errorBox(metricsText));
    return;
  }
  const samples = parseMetrics(metricsText);
  const figures = routeFigures(samples);
  const total = figures.reduce((n, r) => n + r.count, 0);
  const errors = figures.reduce((n, r) => n + r.errors, 0);
  const gauge = (name) => (samples.find((s) => s.name === name) || { value: 0 }).value;
  view.append(
    h('p', { id: 'request-summary' }, `${total} requests, ${errors} answered with an error · ${gauge('facekit_busy_workers')} busy workers · ${gauge('facekit_queue_depth')} waiting`),
    table('By route', ['Route', 'Requests', 'Errors', 'Mean', 'p95 (bucket)'],
      figures.map((r) => [r.route, String(r.count), String(r.errors), ms(r.mean), ms(r.p95)]), { id: 'routes-table' }));
}
