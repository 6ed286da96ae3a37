// The console's shell: signing in, the navigation, and which page the
// address's hash shows (#/page?param=value). Pages are modules that render
// into <main>.
import { h, errorBox } from './dom.js';
import * as api from './api.js';
import { dashboard } from './dashboard.js';
import { collections } from './collections.js';
import { people, person } from './people.js';
import { enroll } from './enroll.js';
import { identify, compare } from './search.js';
import { keys } from './keys.js';
import { monitors } from './monitors.js';

const PAGES = { dashboard, collections, people, person, enroll, identify, compare, monitors, keys };
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const whoami = document.getElementById('whoami');
const signOutButton = document.getElementById('sign-out');

function showSignIn(refusal) {
  nav.hidden = true;
  whoami.hidden = true;
  signOutButton.hidden = true;
  const input = h('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('div', { id: 'sign-in-status' }, refusal ? errorBox(refusal) : null);
  const form = h('form', { class: 'card narrow', id: 'sign-in', method: 'post', novalidate: true },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Use an API key of this server (', h('code', {}, 'facekit keys create'), '). The page keeps it in memory for this tab only.'),
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), input),
    h('button', { type: 'submit' }, 'Sign in'),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.replaceChildren(h('p', { class: 'muted' }, 'Checking the key…'));
    try {
      await api.signIn(input.value);
      input.value = '';
      if (!location.hash || location.hash === '#/' || location.hash === '#/sign-in') location.hash = '#/dashboard';
      else render();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  });
  main.replaceChildren(form);
  input.focus();
}

function parseHash() {
  const [name, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { name: name || 'dashboard', params: new URLSearchParams(query || '') };
}

async function render() {
  if (!api.signedIn()) {
    showSignIn();
    return;
  }
  const { info } = api.session;
  nav.hidden = false;
  for (const link of nav.querySelectorAll('[data-needs]')) link.hidden = !api.can(link.dataset.needs);
  whoami.hidden = false;
  whoami.textContent = `${info.key_id ?? 'no key (authentication off)'} · ${info.role}`;
  signOutButton.hidden = false;
  const { name, params } = parseHash();
  const page = PAGES[name] || PAGES.dashboard;
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === `#/${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const view = h('div', { class: 'page', 'data-page': name });
  main.replaceChildren(view);
  try {
    await page(view, params);
  } catch (error) {
    view.append(errorBox(error));
  }
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', render);
// A link to the page already shown starts it afresh (no hashchange fires).
nav.addEventListener('click', (event) => {
  const link = event.target.closest('a');
  if (link && link.getAttribute('href') === location.hash) render();
});
window.addEventListener('facekit:refused', (event) => showSignIn(event.detail));
signOutButton.addEventListener('click', () => {
  api.signOut();
  showSignIn();
});
render();
