// The OpenID Connect provider the tests sign in through: node's oidc-provider (an OpenID
// Certified implementation, pinned in package.json), configured for loopback by this script.
//
//   node tests/oidc/provider.mjs <config.json>
//
// config.json: { "issuer": "http://127.0.0.1:PORT", "port": PORT, "accounts": "<accounts.json>",
//   "clients": [ { client_id, client_secret, redirect_uris, post_logout_redirect_uris,
//                  "id_token_ttl": seconds?, "token_delay_ms": ms? } ] }
// accounts.json (read afresh at every use, so tests change it between sign-ins):
//   { "<username>": { "password", "email", "name", "groups": [...], "disabled": bool } }
//
// Its own login page checks the password and refuses disabled accounts (oidc-provider's
// development pages sign anybody in); consent is granted as asked. PKCE is required of every
// client. Prints "ready" on stdout once it listens.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = () => JSON.parse(readFileSync(config.accounts, 'utf8'));
const tweaks = Object.fromEntries(config.clients.map((c) => [c.client_id, c]));

const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>${body}</body></html>`;

const provider = new Provider(config.issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris || [],
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  })),
  jwks: { keys: [{ ...key, kid: 'test-key', alg: 'RS256', use: 'sig' }] },
  cookies: { keys: ['chatsite-test-provider-cookies'] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  ttl: {
    IdToken: (ctx, token, client) => tweaks[client.clientId]?.id_token_ttl || 3600,
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out of the test provider?', `${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '');
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account || account.disabled) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: account.email,
          email_verified: true,
          name: account.name,
          preferred_username: id,
          groups: account.groups || [],
        };
      },
    };
  },
});
provider.proxy = false;

const form = (uid, error) => page('Sign in to the test provider', `
${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
  <label>Username <input name="login" id="login" autofocus></label>
  <label>Password <input name="password" id="password" type="password"></label>
  <button type="submit">Sign in</button>
</form>`);

async function formBody(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return Object.fromEntries(new URLSearchParams(text));
}

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) {
    await next();
    // An ID token that expires before the site gets it: the answer is held past its lifetime.
    const delay = ctx.path === '/token' && tweaks[ctx.oidc?.client?.clientId]?.token_delay_ms;
    if (delay) await sleep(delay);
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { uid, prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (ctx.method !== 'POST') {
      ctx.type = 'html';
      ctx.body = form(uid);
      return;
    }
    const { login, password } = await formBody(ctx.req);
    const account = accounts()[login];
    if (!account || account.password !== password) {
      ctx.type = 'html';
      ctx.body = form(uid, 'Wrong username or password.');
      return;
    }
    if (account.disabled) {
      ctx.type = 'html';
      ctx.body = form(uid, 'This account is disabled.');
      return;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent: grant what the client asked for.
  const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log('ready');
});
