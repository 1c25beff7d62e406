// A relying party for latchkey's end-to-end OpenID Connect test, as an application would
// write one: openid-client does discovery and the code flow (PKCE S256, state, nonce), and
// jose verifies the ID token's signature on its own against the discovered JWKS.
//
// One browser at a time; everything is kept in memory. Configured by the environment:
//   ISSUER, CLIENT_ID, REDIRECT_URI, POST_LOGOUT_URI, PORT (required)
//   CLIENT_SECRET (absent: a public client), CLIENT_AUTH (`basic`, the default, or `post`),
//   SCOPE (default `openid email profile`), ACR_VALUES (optional)
// Routes: /login, /callback, /userinfo, /refresh, /refresh-old, /logout, /logged-out.
// Every answer but the two redirects is JSON. The port opens only once discovery succeeded.

import dns from 'node:dns';
import http from 'node:http';
import { webcrypto } from 'node:crypto';

// Node 18 has no global WebCrypto, which openid-client and jose use: set it before they load.
if (!globalThis.crypto) globalThis.crypto = webcrypto;
if (!globalThis.CryptoKey) globalThis.CryptoKey = webcrypto.CryptoKey;
// Node 18 tries only the first address of `localhost` (often ::1); latchkey listens on IPv4.
dns.setDefaultResultOrder('ipv4first');

const client = await import('openid-client');
const { createRemoteJWKSet, jwtVerify } = await import('jose');

function setting(name, fallback) {
  const value = process.env[name] || fallback;
  if (value === undefined) {
    console.error(`rp: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const ISSUER = setting('ISSUER');
const CLIENT_ID = setting('CLIENT_ID');
const CLIENT_SECRET = process.env.CLIENT_SECRET || undefined;
const CLIENT_AUTH = setting('CLIENT_AUTH', 'basic');
const REDIRECT_URI = setting('REDIRECT_URI');
const POST_LOGOUT_URI = setting('POST_LOGOUT_URI');
const PORT = Number(setting('PORT'));
const SCOPE = setting('SCOPE', 'openid email profile');
const ACR_VALUES = process.env.ACR_VALUES || undefined;

function clientAuth() {
  if (CLIENT_SECRET === undefined) return client.None();
  if (CLIENT_AUTH === 'post') return client.ClientSecretPost(CLIENT_SECRET);
  if (CLIENT_AUTH === 'basic') return client.ClientSecretBasic(CLIENT_SECRET);
  console.error(`rp: CLIENT_AUTH must be basic or post, not ${CLIENT_AUTH}`);
  process.exit(2);
}

let config;
try {
  // The test issuer is plain http on localhost.
  config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined, clientAuth(), {
    execute: [client.allowInsecureRequests],
  });
} catch (err) {
  const cause = err.cause instanceof Response ? `HTTP ${err.cause.status}` : err.cause?.message;
  console.error(`rp: discovery of ${ISSUER} failed: ${err.message}${cause ? ` (${cause})` : ''}`);
  process.exit(1);
}
const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));

const pending = new Map(); // state -> { codeVerifier, nonce }, for logins under way
let session = null; // { sub, accessToken, refreshToken, idToken } of the newest login
let previousRefreshToken = null; // the one /refresh last used up
let logoutState = null;

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body, null, 2));
}

function redirect(res, location) {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store' });
  res.end();
}

// What went wrong, from openid-client's errors: an OAuth error (error, error_description)
// from a redirect or an endpoint, an HTTP status, or a check that failed.
function failure(err) {
  const challenge = Array.isArray(err.cause) ? err.cause[0]?.parameters : undefined;
  return {
    error: err.error ?? challenge?.error ?? err.code ?? err.name,
    error_description: err.error_description ?? challenge?.error_description,
    status: err.status ?? err.cause?.status,
    message: err.message,
  };
}

function keep(tokens, sub) {
  session = {
    sub,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    idToken: tokens.id_token ?? session?.idToken,
  };
}

const routes = {
  async '/login'(req, res) {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    pending.set(state, { codeVerifier, nonce });
    const parameters = {
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    };
    if (ACR_VALUES) parameters.acr_values = ACR_VALUES;
    redirect(res, client.buildAuthorizationUrl(config, parameters).href);
  },

  async '/callback'(req, res) {
    const currentUrl = new URL(req.url, REDIRECT_URI);
    const state = currentUrl.searchParams.get('state');
    const checks = pending.get(state);
    if (!checks) return send(res, 400, { error: 'unknown_state', error_description: `no login under way with state ${state}` });
    pending.delete(state);
    let tokens;
    try {
      tokens = await client.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      return send(res, 400, { ...failure(err), codeIssued: currentUrl.searchParams.has('code') });
    }
    const claims = tokens.claims();
    let joseVerified = false;
    let joseError;
    let alg;
    try {
      const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, {
        issuer: ISSUER,
        audience: CLIENT_ID,
        algorithms: ['RS256', 'ES256'],
      });
      joseVerified = payload.sub === claims.sub && payload.nonce === checks.nonce;
      alg = protectedHeader.alg;
    } catch (err) {
      joseError = `${err.code ?? err.name}: ${err.message}`;
    }
    keep(tokens, claims.sub);
    previousRefreshToken = null;
    let userinfo;
    try {
      userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    } catch (err) {
      userinfo = { failed: failure(err) };
    }
    send(res, 200, {
      claims,
      userinfo,
      joseVerified,
      joseError,
      alg,
      acr: claims.acr,
      hasRefreshToken: Boolean(tokens.refresh_token),
    });
  },

  async '/userinfo'(req, res) {
    if (!session) return send(res, 409, { error: 'not_signed_in' });
    try {
      const userinfo = await client.fetchUserInfo(config, session.accessToken, session.sub);
      send(res, 200, { status: 200, userinfo });
    } catch (err) {
      send(res, 502, failure(err));
    }
  },

  async '/refresh'(req, res) {
    if (!session?.refreshToken) return send(res, 409, { error: 'no_refresh_token' });
    const used = session.refreshToken;
    const accessToken = session.accessToken;
    try {
      const tokens = await client.refreshTokenGrant(config, used);
      previousRefreshToken = used;
      keep(tokens, session.sub);
      send(res, 200, {
        hasRefreshToken: Boolean(tokens.refresh_token),
        rotated: Boolean(tokens.refresh_token) && tokens.refresh_token !== used,
        newAccessToken: tokens.access_token !== accessToken,
        claims: tokens.id_token ? tokens.claims() : undefined,
      });
    } catch (err) {
      send(res, 502, failure(err));
    }
  },

  // The refresh token that /refresh used up, presented again: a replay.
  async '/refresh-old'(req, res) {
    if (!previousRefreshToken) return send(res, 409, { error: 'no_used_refresh_token' });
    try {
      const tokens = await client.refreshTokenGrant(config, previousRefreshToken);
      send(res, 200, { hasRefreshToken: Boolean(tokens.refresh_token) });
    } catch (err) {
      send(res, 502, failure(err));
    }
  },

  async '/logout'(req, res) {
    if (!session) return send(res, 409, { error: 'not_signed_in' });
    logoutState = client.randomState();
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: session.idToken,
      post_logout_redirect_uri: POST_LOGOUT_URI,
      state: logoutState,
    });
    redirect(res, url.href);
  },

  async '/logged-out'(req, res) {
    const state = new URL(req.url, POST_LOGOUT_URI).searchParams.get('state');
    send(res, 200, { state_ok: logoutState !== null && state === logoutState });
    logoutState = null;
  },
};

http
  .createServer(async (req, res) => {
    const route = routes[new URL(req.url, 'http://rp').pathname];
    if (!route) return send(res, 404, { error: 'not_found' });
    try {
      await route(req, res);
    } catch (err) {
      console.error(err);
      if (!res.headersSent) send(res, 500, failure(err));
    }
  })
  .listen(PORT, '127.0.0.1', () => console.log(`rp: ${CLIENT_ID} at http://127.0.0.1:${PORT}, issuer ${ISSUER}`));
