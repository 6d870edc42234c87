import { randomUUID } from 'node:crypto';
import { type Logger, MAX_HTTP_BODY_BYTES, TesseraError } from '@tessera/protocol';
import { httpError } from '@tessera/runtime/http';
import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { sha256Hex } from './messages.js';
import type { Process } from './process.js';
import { type Question, type Questionnaire, SUPPLIER_QUESTIONNAIRE } from './questionnaire.js';
import type { Actor, Consent, ExchangeService, MessageRecord } from './service.js';

/**
 * The HTML interface of the data exchange: server-rendered pages and plain forms, no script, no build step, nothing
 * from a CDN. The organisation signs in by pasting the access token it got from the verifier (`POST /presentations`);
 * the token is kept in an HttpOnly, SameSite=Strict cookie (so no other site can post these forms with it) and handed
 * to the same `requireCredentials` guard as the API on every request. Messages and acknowledgements are signed with
 * the key the service holds for the organisation (`ExchangeKeyring`); organisations that keep their keys themselves
 * use the API with their own JWS.
 */

export const UI_TOKEN_COOKIE = 'tessera_exchange_token';

export interface ExchangeUiDeps {
  service: ExchangeService;
  guard: RequestHandler;
  log: Logger;
}

const esc = (v: unknown): string =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const short = (did: string) => (did.length > 30 ? `${did.slice(0, 18)}…${did.slice(-6)}` : did);

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f5f6f4;color:#1d2521}
header{background:#134e4a;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
header h1{font-size:1.15rem;margin:0}main{padding:1rem 1.2rem;display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(420px,1fr))}
section{background:#fff;border:1px solid #d5dbd6;border-radius:6px;padding:.8rem 1rem}h2{font-size:1rem;margin:.1rem 0 .6rem}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #e4e8e4;padding:.25rem .35rem;text-align:left;vertical-align:top}
label{display:block;margin:.3rem 0}input,select,textarea{font:inherit;width:100%;box-sizing:border-box}textarea{font-family:monospace;font-size:12px}
button{font:inherit;background:#0f766e;color:#fff;border:0;border-radius:4px;padding:.3rem .8rem;margin-top:.4rem;cursor:pointer}
.notice{background:#dcfce7;border:1px solid #86efac;padding:.5rem 1rem;margin:1rem 1.2rem 0}.error{background:#fee2e2;border:1px solid #fca5a5;padding:.5rem 1rem;margin:1rem 1.2rem 0}
.state-acknowledged,.state-completed,.ok{color:#15803d;font-weight:600}.state-open,.state-sent,.state-running{color:#b45309;font-weight:600}.state-rejected,.state-revoked,.bad{color:#b91c1c;font-weight:600}
#messages{grid-column:span 2}code{font-size:12px;word-break:break-all}.inline{display:inline}.inline button{margin:0}`;

function page(title: string, body: string, flash: { notice?: string; error?: string } = {}): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · Tessera data exchange</title><style>${STYLE}</style></head><body>
${body.startsWith('<header') ? body.slice(0, body.indexOf('</header>') + 9) : ''}
${flash.notice ? `<p class="notice" role="status" id="notice">${esc(flash.notice)}</p>` : ''}
${flash.error ? `<p class="error" role="alert" id="error">${esc(flash.error)}</p>` : ''}
${body.startsWith('<header') ? body.slice(body.indexOf('</header>') + 9) : body}</body></html>`;
}

const select = (name: string, options: { value: string; label: string }[], id = name) =>
  `<select name="${name}" id="${id}" required><option value="">—</option>${options
    .map((o) => `<option value="${esc(o.value)}">${esc(o.label)}</option>`)
    .join('')}</select>`;

function questionInput(id: string, q: Question, formId: string): string {
  const name = `q.${id}`;
  const fid = `${formId}-${id}`;
  const label = `<label for="${fid}">${esc(q.title)}</label>`;
  if (q.type === 'boolean') {
    return `${label}<select name="${name}" id="${fid}"><option value="">—</option><option value="true">yes</option><option value="false">no</option></select>`;
  }
  if (q.type === 'string' && q.enum) {
    return `${label}<select name="${name}" id="${fid}"><option value="">—</option>${q.enum
      .map((v) => `<option>${esc(v)}</option>`)
      .join('')}</select>`;
  }
  const type = q.type === 'string' ? (q.format === 'date' ? 'date' : 'text') : 'number';
  const step = q.type === 'number' ? ' step="any"' : '';
  return `${label}<input type="${type}"${step} name="${name}" id="${fid}">`;
}

/** Form values back to the questionnaire's types; empty fields are left out (the schema says if they were required). */
export function answersFromForm(q: Questionnaire, form: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [id, question] of Object.entries(q.properties)) {
    const raw = form[`q.${id}`];
    if (typeof raw !== 'string' || raw === '') continue;
    if (question.type === 'boolean') out[id] = raw === 'true' ? true : raw === 'false' ? false : raw;
    else if (question.type === 'number' || question.type === 'integer') out[id] = Number(raw);
    else out[id] = raw;
  }
  return out;
}

const str = (form: Record<string, unknown>, name: string): string => {
  const v = form[name];
  return typeof v === 'string' ? v.trim() : '';
};

function parseJsonField(form: Record<string, unknown>, name: string): unknown {
  const text = str(form, name);
  try {
    return JSON.parse(text);
  } catch {
    throw new TesseraError('ERR_VALIDATION', `${name} is not valid JSON`);
  }
}

function describe(m: MessageRecord): string {
  const b = m.body;
  switch (b.kind) {
    case 'data':
    case 'forward':
      return `${esc(b.label)} ${b.document ? `(document ${esc(b.document.title)}, sha256 <code>${esc(b.document.sha256.slice(0, 16))}…</code>)` : `<code>${esc(JSON.stringify(b.payload).slice(0, 120))}</code>`}${b.kind === 'forward' ? ` — forwarded from <code>${esc(b.originalId)}</code>` : ''}`;
    case 'request':
      return `questionnaire “${esc(b.questionnaire.title)}” (${Object.keys(b.questionnaire.properties).length} questions)`;
    case 'answer':
      return `answers to <code>${esc(b.requestId)}</code>: <code>${esc(JSON.stringify(b.answers).slice(0, 160))}</code>`;
    case 'decision':
      return b.approved ? '<span class="ok">approved</span>' : `<span class="bad">rejected</span> ${esc(b.reason)}`;
    case 'consent.grant':
      return `consent for “${esc(b.purpose)}”, third parties ${b.thirdPartyDisclosure ? 'allowed' : 'not allowed'}, until ${esc(b.expiresAt.slice(0, 10))}`;
    case 'consent.revoke':
      return `revokes consent <code>${esc(b.consentId)}</code>`;
  }
  return '';
}

function dashboard(
  base: string,
  me: { did: string; name: string | undefined },
  data: {
    partners: { did: string; name: string }[];
    messages: MessageRecord[];
    consents: Consent[];
    processes: Process[];
    trail: string;
  },
): string {
  const others = data.partners.filter((p) => p.did !== me.did);
  const nameOf = (did: string) => data.partners.find((p) => p.did === did)?.name ?? short(did);
  const to = (id: string) =>
    `<label for="${id}">To</label>${select(
      'to',
      others.map((p) => ({ value: p.did, label: `${p.name} (${short(p.did)})` })),
      id,
    )}`;
  const answered = new Set(data.messages.filter((m) => m.kind === 'answer').map((m) => m.refId));
  const openRequests = data.messages.filter(
    (m) => m.kind === 'request' && m.to === me.did && m.status === 'acknowledged' && !answered.has(m.id),
  );
  const received = data.messages.filter((m) => (m.kind === 'data' || m.kind === 'forward') && m.to === me.did);
  const rows = data.messages
    .map(
      (
        m,
      ) => `<tr data-message="${esc(m.id)}" data-kind="${esc(m.kind)}"><td>${esc(m.sentAt.slice(0, 19).replace('T', ' '))}</td>
<td>${esc(m.kind)}</td><td>${m.from === me.did ? `to ${esc(nameOf(m.to))}` : `from ${esc(nameOf(m.from))}`}</td><td>${describe(m)}${m.processId ? `<br>process <code>${esc(m.processId)}</code>` : ''}</td>
<td class="state-${esc(m.status)}">${esc(m.status)}${
        m.status === 'sent' && m.to === me.did
          ? `<form class="inline" method="post" action="${base}/messages/${encodeURIComponent(m.id)}/ack"><button name="ack" value="${esc(m.id)}">Acknowledge</button></form>`
          : ''
      }</td></tr>`,
    )
    .join('');
  const answerForms = openRequests
    .map((r) => {
      const q = (r.body as { questionnaire: Questionnaire }).questionnaire;
      const fid = `answer-${r.id}`;
      return `<form method="post" action="${base}/answer" id="${esc(fid)}" data-request="${esc(r.id)}"><h3>${esc(q.title)} from ${esc(nameOf(r.from))}</h3>
<input type="hidden" name="requestId" value="${esc(r.id)}"><input type="hidden" name="processId" value="${esc(r.processId ?? '')}">
${Object.entries(q.properties)
  .map(([id, question]) => questionInput(id, question, esc(fid)))
  .join('')}<button>Sign and send answer</button></form>`;
    })
    .join('');
  const consentRows = data.consents
    .map(
      (
        c,
      ) => `<tr data-consent="${esc(c.id)}"><td><code>${esc(c.id)}</code></td><td>${esc(nameOf(c.controller))} → ${esc(nameOf(c.recipient))}</td><td>${esc(c.purpose)}</td>
<td>${c.thirdPartyDisclosure ? `yes${c.thirdParties ? `: ${c.thirdParties.map((d) => esc(nameOf(d))).join(', ')}` : ''}` : 'no'}</td><td>${esc(c.expiresAt.slice(0, 10))}</td>
<td class="state-${esc(c.status)}">${esc(c.status)}${
        c.status === 'active' && c.controller === me.did
          ? `<form class="inline" method="post" action="${base}/consents/${encodeURIComponent(c.id)}/revoke"><button>Revoke</button></form>`
          : ''
      }</td></tr>`,
    )
    .join('');
  const processRows = data.processes
    .map(
      (
        p,
      ) => `<tr data-process="${esc(p.id)}"><td><code>${esc(p.id)}</code><br>${esc(p.template)}</td><td>${esc(nameOf(p.initiator))} ⇄ ${esc(nameOf(p.counterparty))}</td>
<td class="state-${esc(p.status)}" data-status="${esc(p.status)}">${esc(p.status)}</td><td>${p.steps
        .map(
          (s) =>
            `<span class="state-${esc(s.state)}" data-step="${esc(s.name)}">${esc(s.name)}: ${esc(s.state)}</span>`,
        )
        .join('<br>')}</td></tr>`,
    )
    .join('');
  const myProcesses = data.processes.filter((p) => p.status === 'running');
  return `<header><h1>Tessera data exchange</h1><span id="me">${esc(me.name ?? 'not registered')} · <code>${esc(me.did)}</code></span></header>
<main>
<section id="partner"><h2>Your organisation</h2><form method="post" action="${base}/partners"><label for="partner-name">Name shown to partners</label>
<input id="partner-name" name="name" value="${esc(me.name ?? '')}" required><button>Register as partner</button></form>
<p>${others.length} other partner(s): ${others.map((p) => esc(p.name)).join(', ') || '—'}</p></section>

<section id="messages"><h2>Messages</h2><table><thead><tr><th>sent</th><th>kind</th><th>party</th><th>content</th><th>status</th></tr></thead><tbody>${rows || '<tr><td colspan="5">none yet</td></tr>'}</tbody></table></section>

${answerForms ? `<section id="answers"><h2>Questionnaires to answer</h2>${answerForms}</section>` : ''}

<section id="send-request"><h2>Request information (questionnaire)</h2><form method="post" action="${base}/request">${to('request-to')}
<label for="request-questionnaire">Questionnaire (JSON Schema subset)</label><textarea id="request-questionnaire" name="questionnaire" rows="8">${esc(JSON.stringify(SUPPLIER_QUESTIONNAIRE, null, 1))}</textarea>
<label><input type="checkbox" name="onboarding" value="1" id="request-onboarding" style="width:auto"> start a supplier-onboarding process</label>
<button>Sign and send request</button></form></section>

<section id="send-data"><h2>Send data</h2><form method="post" action="${base}/data">${to('data-to')}
<label for="data-label">Label</label><input id="data-label" name="label" required>
<label for="data-payload">Inline JSON payload</label><textarea id="data-payload" name="payload" rows="3"></textarea>
<label for="data-document">…or a document: its text (only the SHA-256 is sent)</label><textarea id="data-document" name="documentText" rows="2"></textarea>
<label for="data-title">Document title</label><input id="data-title" name="documentTitle">
<label for="data-process">Process step of</label>${select(
    'processId',
    myProcesses.map((p) => ({ value: p.id, label: p.id })),
    'data-process',
  ).replace(' required', '')}
<button>Sign and send</button></form></section>

<section id="send-consent"><h2>Grant consent</h2><form method="post" action="${base}/consent">${to('consent-to')}
<label for="consent-purpose">Purpose</label><input id="consent-purpose" name="purpose" required>
<label for="consent-category">Purpose category</label><input id="consent-category" name="purposeCategory" value="compliance" required>
<label for="consent-jurisdiction">Jurisdiction</label><input id="consent-jurisdiction" name="jurisdiction" value="EU" required>
<label for="consent-days">Valid for (days)</label><input id="consent-days" type="number" name="days" value="30" min="1" max="3650" required>
<label><input type="checkbox" id="consent-third" name="thirdPartyDisclosure" value="1" style="width:auto"> allow disclosure to third parties</label>
<label for="consent-parties">Only to (DIDs, one per line; empty = any partner)</label><textarea id="consent-parties" name="thirdParties" rows="2"></textarea>
<button>Sign and grant</button></form></section>

<section id="send-forward"><h2>Forward data under consent</h2><form method="post" action="${base}/forward">
<label for="forward-original">Data received</label>${select(
    'originalId',
    received.map((m) => ({ value: m.id, label: `${(m.body as { label: string }).label} from ${nameOf(m.from)}` })),
    'forward-original',
  )}
<label for="forward-consent">Consent</label>${select(
    'consentId',
    data.consents
      .filter((c) => c.recipient === me.did)
      .map((c) => ({ value: c.id, label: `${c.purpose} (${c.status})` })),
    'forward-consent',
  )}
${to('forward-to')}<button>Sign and forward</button></form></section>

<section id="processes"><h2>Processes</h2><table><thead><tr><th>process</th><th>parties</th><th>status</th><th>steps</th></tr></thead><tbody>${processRows || '<tr><td colspan="4">none yet</td></tr>'}</tbody></table>
${
  myProcesses.length > 0
    ? `<form method="post" action="${base}/decision"><label for="decision-process">Decide on</label>${select(
        'processId',
        myProcesses.map((p) => ({ value: p.id, label: p.id })),
        'decision-process',
      )}<label for="decision-reason">Reason</label><input id="decision-reason" name="reason">
<button name="approved" value="true" id="approve">Approve</button> <button name="approved" value="false" id="reject">Reject</button></form>`
    : ''
}</section>

<section id="consents"><h2>Consents</h2><table><thead><tr><th>id</th><th>controller → recipient</th><th>purpose</th><th>third parties</th><th>expires</th><th>status</th></tr></thead><tbody>${consentRows || '<tr><td colspan="6">none yet</td></tr>'}</tbody></table></section>

<section id="trail"><h2>Audit trail</h2>${data.trail}<p><a href="${base}/trail.json" download>Export your trail entries (JSON)</a></p></section>
</main>`;
}

/** The UI routes; mounted by `buildExchangeRouter` at `/ui`. */
export function buildExchangeUi(deps: ExchangeUiDeps): Router {
  const { service, guard, log } = deps;
  const ui = express.Router();
  ui.use(express.urlencoded({ extended: false, limit: MAX_HTTP_BODY_BYTES }));
  const base = (req: Request) => req.baseUrl;
  const back = (req: Request, res: Response, flash: { notice?: string; error?: string }) => {
    const q = new URLSearchParams(flash as Record<string, string>).toString();
    res.redirect(303, `${base(req)}/${q ? `?${q}` : ''}`);
  };

  // Forms are posted only from these pages: a POST whose Origin is another site is refused (login CSRF included),
  // on top of the SameSite=Strict cookie.
  ui.use((req, res, next) => {
    const origin = req.headers.origin;
    if (req.method !== 'POST' || origin === undefined) return next();
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== req.headers.host) {
      res.status(403).type('text').send('ERR_FORBIDDEN: cross-site form post refused');
      return;
    }
    next();
  });

  ui.get('/login', (req, res) => {
    res.type('html').send(
      page(
        'Sign in',
        `<header><h1>Tessera data exchange</h1></header><main><section><h2>Sign in with an access token</h2>
<p>Present your DataPartner credential to the verifier (<code>POST /verifier/presentations</code> for resource <code>/data/exchange</code>, action <code>*</code>) and paste the access token here.</p>
<form method="post" action="${base(req)}/login"><label for="token">Access token</label><textarea id="token" name="token" rows="4" required></textarea><button id="sign-in">Sign in</button></form></section></main>`,
        { ...(typeof req.query.error === 'string' ? { error: req.query.error } : {}) },
      ),
    );
  });
  ui.post('/login', (req, res) => {
    const token = str(req.body as Record<string, unknown>, 'token');
    if (!/^[A-Za-z0-9_.~+/-]+=*$/.test(token)) {
      res.redirect(303, `${base(req)}/login?error=${encodeURIComponent('that is not an access token')}`);
      return;
    }
    res.cookie(UI_TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: base(req), secure: req.secure });
    res.redirect(303, `${base(req)}/`);
  });
  ui.post('/logout', (req, res) => {
    res.clearCookie(UI_TOKEN_COOKIE, { path: base(req) });
    res.redirect(303, `${base(req)}/login`);
  });

  // The cookie becomes the bearer token the guard checks, exactly as for the API.
  ui.use((req, _res, next) => {
    const cookie = (req.headers.cookie ?? '')
      .split(';')
      .map((c) => c.trim())
      .find((c) => c.startsWith(`${UI_TOKEN_COOKIE}=`));
    if (cookie && !req.headers.authorization) {
      req.headers.authorization = `Bearer ${decodeURIComponent(cookie.slice(UI_TOKEN_COOKIE.length + 1))}`;
    }
    next();
  });
  ui.use(guard);

  const actor = (req: Request): Actor => ({ did: req.accessGrant!.holder, credentials: req.accessGrant!.credentials });
  /** Run a signed action, then come back to the dashboard with what happened. */
  const act =
    (
      fn: (
        req: Request,
        a: Actor,
        form: Record<string, unknown>,
      ) => Promise<{ ok: boolean; error?: { code: string; message: string } }>,
      done: string,
    ): RequestHandler =>
    async (req, res) => {
      let r: { ok: boolean; error?: { code: string; message: string } };
      try {
        r = await fn(req, actor(req), (req.body ?? {}) as Record<string, unknown>);
      } catch (e) {
        const mapped = httpError(e);
        if (mapped.internal) log.error({ err: e, path: req.path }, 'unhandled error in exchange UI');
        r = { ok: false, error: mapped.body.error };
      }
      back(req, res, r.ok ? { notice: done } : { error: `${r.error!.code}: ${r.error!.message}` });
    };

  ui.get('/', async (req, res) => {
    const a = actor(req);
    const [partners, messages, consents, processes, verified] = await Promise.all([
      service.partners(),
      service.messages(a.did, { limit: 200 }),
      service.consents(a.did),
      service.processes(a.did),
      service.verifyTrail({ checkAnchor: true }),
    ]);
    const trail = verified.ok
      ? `<p id="trail-status" class="ok">Trail verified: ${verified.value.length} entries, head <code>${esc(verified.value.head.hash.slice(0, 16))}…</code>; anchored on chain up to entry ${verified.value.anchored?.seq ?? 0}.</p>`
      : `<p id="trail-status" class="bad">${esc(verified.error.code)}: ${esc(verified.error.message)}</p>`;
    const me = partners.find((p) => p.did === a.did);
    const flash = {
      ...(typeof req.query.notice === 'string' ? { notice: req.query.notice } : {}),
      ...(typeof req.query.error === 'string' ? { error: req.query.error } : {}),
    };
    res
      .type('html')
      .send(
        page(
          'Dashboard',
          dashboard(base(req), { did: a.did, name: me?.name }, { partners, messages, consents, processes, trail }),
          flash,
        ),
      );
  });

  ui.get('/trail.json', async (req, res) => {
    res.setHeader('Content-Disposition', 'attachment; filename="tessera-exchange-trail.json"');
    res.json({ party: actor(req).did, entries: await service.trail({ party: actor(req).did, limit: 1000 }) });
  });

  ui.post(
    '/partners',
    act((_req, a, f) => service.registerPartner(a, str(f, 'name') || undefined), 'Registered as a data partner.'),
  );
  ui.post(
    '/request',
    act(async (_req, a, f) => {
      const onboarding = str(f, 'onboarding') === '1';
      return service.sendHosted(a, str(f, 'to'), {
        kind: 'request',
        questionnaire: parseJsonField(f, 'questionnaire') as Questionnaire,
        ...(onboarding ? { processId: `onboarding-${randomUUID()}`, template: 'supplier-onboarding' } : {}),
      });
    }, 'Questionnaire signed and sent.'),
  );
  ui.post(
    '/answer',
    act(async (_req, a, f) => {
      const requestId = str(f, 'requestId');
      const request = await service.message(requestId, a.did);
      if (!request.ok) return request;
      const q = (request.value.body as { questionnaire: Questionnaire }).questionnaire;
      const processId = str(f, 'processId');
      return service.sendHosted(a, request.value.from, {
        kind: 'answer',
        requestId,
        answers: answersFromForm(q, f) as never,
        ...(processId ? { processId } : {}),
      });
    }, 'Answer signed and sent.'),
  );
  ui.post(
    '/data',
    act(async (_req, a, f) => {
      const processId = str(f, 'processId');
      const text = str(f, 'documentText');
      const content = text
        ? {
            document: {
              sha256: sha256Hex(text),
              mediaType: 'text/plain',
              title: str(f, 'documentTitle') || str(f, 'label'),
              size: Buffer.byteLength(text),
            },
          }
        : { payload: parseJsonField(f, 'payload') as never };
      return service.sendHosted(a, str(f, 'to'), {
        kind: 'data',
        label: str(f, 'label'),
        ...content,
        ...(processId ? { processId } : {}),
      });
    }, 'Data signed and sent.'),
  );
  ui.post(
    '/consent',
    act(async (_req, a, f) => {
      const parties = str(f, 'thirdParties')
        .split(/\s+/)
        .filter((d) => d !== '');
      return service.sendHosted(a, str(f, 'to'), {
        kind: 'consent.grant',
        subject: a.did,
        purpose: str(f, 'purpose'),
        purposeCategory: str(f, 'purposeCategory'),
        jurisdiction: str(f, 'jurisdiction'),
        thirdPartyDisclosure: str(f, 'thirdPartyDisclosure') === '1',
        ...(parties.length > 0 ? { thirdParties: parties } : {}),
        expiresAt: new Date(Date.now() + Number(str(f, 'days') || '30') * 86_400_000).toISOString(),
      });
    }, 'Consent signed and granted.'),
  );
  ui.post(
    '/consents/:id/revoke',
    act(async (req, a) => {
      const id = String(req.params.id);
      const c = (await service.consents(a.did)).find((x) => x.id === id && x.controller === a.did);
      if (!c) return { ok: false, error: { code: 'ERR_EXCHANGE_NOT_FOUND', message: `no consent ${id} of yours` } };
      return service.sendHosted(a, c.recipient, { kind: 'consent.revoke', consentId: id });
    }, 'Consent revoked.'),
  );
  ui.post(
    '/forward',
    act(async (_req, a, f) => {
      const original = await service.message(str(f, 'originalId'), a.did);
      if (!original.ok) return original;
      const b = original.value.body as { label: string; payload?: unknown; document?: unknown };
      return service.sendHosted(a, str(f, 'to'), {
        kind: 'forward',
        originalId: original.value.id,
        consentId: str(f, 'consentId'),
        label: b.label,
        ...(b.document ? { document: b.document as never } : { payload: b.payload as never }),
      });
    }, 'Data forwarded under consent.'),
  );
  ui.post(
    '/decision',
    act(async (_req, a, f) => {
      const p = await service.process(str(f, 'processId'), a.did);
      if (!p.ok) return p;
      const reason = str(f, 'reason');
      return service.sendHosted(a, p.value.initiator === a.did ? p.value.counterparty : p.value.initiator, {
        kind: 'decision',
        approved: str(f, 'approved') === 'true',
        processId: p.value.id,
        ...(reason ? { reason } : {}),
      });
    }, 'Decision signed and sent.'),
  );
  ui.post(
    '/messages/:id/ack',
    act((req, a) => service.acknowledgeHosted(a, String(req.params.id)), 'Acknowledged with your signature.'),
  );

  // Not signed in (or the token expired, or the credential was revoked): back to the sign-in form with the reason.
  const onError: ErrorRequestHandler = (e, req, res, _next) => {
    const mapped = httpError(e);
    if (mapped.internal) log.error({ err: e, path: req.path }, 'unhandled error in exchange UI');
    if (mapped.status === 401 || mapped.status === 403) {
      res.redirect(
        303,
        `${base(req)}/login?error=${encodeURIComponent(`${mapped.body.error.code}: ${mapped.body.error.message}`)}`,
      );
      return;
    }
    res
      .status(mapped.status)
      .type('html')
      .send(
        page(
          'Error',
          `<main><section><h2>${esc(mapped.body.error.code)}</h2><p>${esc(mapped.body.error.message)}</p></section></main>`,
        ),
      );
  };
  ui.use(onError);
  return ui;
}
