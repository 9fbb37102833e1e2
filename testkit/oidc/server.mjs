// Test-only OIDC provider for Warden's integration tests.
//
// Runs the real `oidc-provider` package on 127.0.0.1 so the Rust tests validate
// genuine JWT access tokens (client credentials grant) instead of tokens shaped by
// our own assumptions, plus a few /__test/ endpoints to forge malicious tokens and
// rotate keys. NEVER expose this anywhere: /__test/sign mints tokens for anyone.
//
// Protocol (the Rust harness depends on it exactly; see README.md):
//   * stdout carries exactly ONE JSON line, printed once the server is ready.
//     Everything else, including oidc-provider's own notices, goes to stderr.
//   * the process exits when stdin closes (the parent test died) or on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { format, promisify } from 'node:util';

// oidc-provider prints NOTICEs with console.info, i.e. to stdout, which would corrupt
// the one-line handshake. Redirect every console method to stderr BEFORE the library
// is loaded (hence the dynamic import below: static imports would be hoisted above this).
const toStderr = (...args) => { process.stderr.write(`${format(...args)}\n`); };
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
console.warn = toStderr;
console.error = toStderr;

const { default: Provider, errors: oidcErrors } = await import('oidc-provider');

const log = (message) => toStderr(`[testkit-oidc] ${message}`);

// ---------------------------------------------------------------------------
// Configuration from the environment
// ---------------------------------------------------------------------------

const DEFAULT_CLIENTS = [
  { client_id: 'alice', groups: ['eng'] },
  { client_id: 'bob', groups: ['interns'] },
  { client_id: 'carol', groups: ['approvers', 'eng'] },
  { client_id: 'ci-bot', groups: ['ci'] },
  { client_id: 'nobody', groups: [] },
];

// Resource indicators select the signing algorithm so one provider can issue tokens
// with every algorithm Warden must support. The first one is also the default.
const RESOURCES = {
  'urn:warden': 'RS256',
  'urn:warden:es256': 'ES256',
  'urn:warden:eddsa': 'EdDSA',
};
const DEFAULT_RESOURCE = 'urn:warden';
const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'];
const ACCESS_TOKEN_TTL_SECONDS = 600;

const ROUTES = { token: '/token', jwks: '/jwks' };
const MAX_BODY_BYTES = 1024 * 1024;

function fail(message) {
  log(`fatal: ${message}`);
  process.exit(1);
}

function parsePort(raw) {
  if (raw === undefined || raw === '') return 0;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid OIDC_PORT ${JSON.stringify(raw)}`);
  return port;
}

function isStringArray(value) {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function parseClients(raw) {
  let entries = DEFAULT_CLIENTS;
  if (raw !== undefined && raw !== '') {
    try {
      entries = JSON.parse(raw);
    } catch (err) {
      fail(`OIDC_CLIENTS is not valid JSON: ${err.message}`);
    }
    if (!Array.isArray(entries)) fail('OIDC_CLIENTS must be a JSON array');
  }

  const seen = new Set();
  return entries.map((entry, i) => {
    if (entry === null || typeof entry !== 'object') fail(`OIDC_CLIENTS[${i}] must be an object`);
    const { client_id: clientId, client_secret: secret = `${entry.client_id}-secret`, groups = [] } = entry;
    if (typeof clientId !== 'string' || clientId === '') fail(`OIDC_CLIENTS[${i}].client_id must be a non-empty string`);
    if (typeof secret !== 'string' || secret === '') fail(`OIDC_CLIENTS[${i}].client_secret must be a non-empty string`);
    if (!isStringArray(groups)) fail(`OIDC_CLIENTS[${i}].groups must be an array of strings`);
    if (seen.has(clientId)) fail(`OIDC_CLIENTS has duplicate client_id ${JSON.stringify(clientId)}`);
    seen.add(clientId);
    return { clientId, secret, groups: [...groups] };
  });
}

const requestedPort = parsePort(process.env.OIDC_PORT);
const clients = parseClients(process.env.OIDC_CLIENTS);
const audience = process.env.OIDC_AUDIENCE || 'warden';
const groupsByClient = new Map(clients.map((c) => [c.clientId, c.groups]));

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

const generateKeyPair = promisify(crypto.generateKeyPair);

async function generateKeyObjects(alg) {
  switch (alg) {
    case 'RS256': return generateKeyPair('rsa', { modulusLength: 2048 });
    case 'ES256': return generateKeyPair('ec', { namedCurve: 'P-256' });
    case 'EdDSA': return generateKeyPair('ed25519');
    default: throw new Error(`unsupported alg ${alg}`);
  }
}

// Random (not thumbprint-derived) kids guarantee rotation always yields new kids and
// let tests tell keys apart at a glance from the alg prefix.
function newKid(alg) {
  return `${alg.toLowerCase()}-${crypto.randomBytes(12).toString('base64url')}`;
}

async function generateSigningKey(alg) {
  const { privateKey, publicKey } = await generateKeyObjects(alg);
  const kid = newKid(alg);
  return {
    alg,
    kid,
    privateKey,
    publicKey,
    // `alg` pins the key to one algorithm: oidc-provider then selects it only for that
    // alg, and publishes alg/use in the JWKS so Warden can test alg/kty matching.
    privateJwk: { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' },
  };
}

async function generateKeySet() {
  const entries = await Promise.all(SIGNING_ALGS.map(async (alg) => [alg, await generateSigningKey(alg)]));
  return Object.fromEntries(entries);
}

function kidsOf(keySet) {
  return Object.fromEntries(SIGNING_ALGS.map((alg) => [alg, keySet[alg].kid]));
}

// ---------------------------------------------------------------------------
// oidc-provider
// ---------------------------------------------------------------------------

function providerConfiguration(keySet) {
  return {
    clients: clients.map(({ clientId, secret }) => ({
      client_id: clientId,
      client_secret: secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // Registered method is irrelevant in practice: oidc-provider accepts either
      // secret-based method for a client with a secret; both are listed below.
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    jwks: { keys: SIGNING_ALGS.map((alg) => keySet[alg].privateJwk) },
    routes: ROUTES,
    // Cookies are unused (no interactive flows) but the provider wants signing keys.
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without a default, a request lacking `resource` would get an opaque token.
        defaultResource: async () => DEFAULT_RESOURCE,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          const alg = RESOURCES[resourceIndicator];
          if (alg === undefined) throw new oidcErrors.InvalidTarget();
          return {
            audience,
            // Empty scope: tokens are issued without any scope; Warden authorizes on groups.
            scope: '',
            accessTokenFormat: 'jwt',
            accessTokenTTL: ACCESS_TOKEN_TTL_SECONDS,
            jwt: { sign: { alg } },
          };
        },
      },
    },
    // oidc-provider 9 already sets sub = client_id for client credentials JWTs, and
    // its own claims (sub, iss, aud, ...) take precedence over these extras anyway.
    extraTokenClaims: async (_ctx, token) => {
      const groups = groupsByClient.get(token.clientId) ?? [];
      return { groups: [...groups], realm_access: { roles: [...groups] } };
    },
    // The resource server's accessTokenTTL already applies; defining the function only
    // silences the provider's "SHOULD change" notice.
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL_SECONDS },
    // Called only for browser CORS requests; answering avoids a "SHOULD change" notice.
    clientBasedCORS: () => false,
  };
}

// ---------------------------------------------------------------------------
// Forged tokens
// ---------------------------------------------------------------------------

const b64url = (input) => Buffer.from(input).toString('base64url');

// JWS is assembled by hand rather than with jose so the header is exactly what the
// test asked for (jose refuses e.g. an `alg` header that disagrees with the key, which
// is precisely the kind of token these tests need).
function compactJws(header, claims, signer) {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = signer ? signer(Buffer.from(signingInput)) : Buffer.alloc(0);
  return `${signingInput}.${signature.toString('base64url')}`;
}

function asymmetricSigner(alg, privateKey) {
  switch (alg) {
    case 'RS256': return (data) => crypto.sign('sha256', data, privateKey);
    // JWS wants the raw r||s form, not node's default DER encoding.
    case 'ES256': return (data) => crypto.sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA': return (data) => crypto.sign(null, data, privateKey);
    default: throw new Error(`unsupported alg ${alg}`);
  }
}

const hmacSigner = (secret) => (data) => crypto.createHmac('sha256', secret).update(data).digest();

class BadRequest extends Error {}

const SIGN_ALGS = new Set([...SIGNING_ALGS, 'HS256', 'none']);
const SIGN_KEY_KINDS = new Set(['current', 'foreign', 'public-as-hmac']);

async function forgeToken(body, keySet) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('body must be a JSON object');
  const { claims, alg, key = 'current', kid, header = {} } = body;
  if (claims === undefined) throw new BadRequest('"claims" is required');
  if (!SIGN_ALGS.has(alg)) throw new BadRequest(`"alg" must be one of ${[...SIGN_ALGS].join(', ')}`);
  if (!SIGN_KEY_KINDS.has(key)) throw new BadRequest(`"key" must be one of ${[...SIGN_KEY_KINDS].join(', ')}`);
  if (kid !== undefined && kid !== null && typeof kid !== 'string') throw new BadRequest('"kid" must be a string or null');
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new BadRequest('"header" must be an object');

  let defaultKid;
  let signer;
  if (alg === 'none') {
    // Unsigned token: only carries a kid when explicitly asked to.
    signer = null;
  } else if (alg === 'HS256') {
    // The provider has no HMAC key; the "attacker" targets the RS256 key's kid.
    defaultKid = keySet.RS256.kid;
    if (key === 'public-as-hmac') {
      // Classic key confusion: HMAC keyed with the public key's PEM text, which anyone
      // can rebuild from the JWKS. Exact bytes: Node's SPKI PEM export, trailing \n included.
      signer = hmacSigner(keySet.RS256.publicKey.export({ type: 'spki', format: 'pem' }));
    } else if (key === 'foreign') {
      signer = hmacSigner(crypto.randomBytes(32));
    } else {
      throw new BadRequest('HS256 supports key "public-as-hmac" or "foreign" (the provider has no HMAC key)');
    }
  } else {
    if (key === 'public-as-hmac') throw new BadRequest('key "public-as-hmac" requires alg HS256');
    // A foreign key still claims the real kid by default, so only the signature is wrong.
    defaultKid = keySet[alg].kid;
    const privateKey = key === 'foreign' ? (await generateKeyObjects(alg)).privateKey : keySet[alg].privateKey;
    signer = asymmetricSigner(alg, privateKey);
  }

  const effectiveKid = kid === undefined ? defaultKid : kid; // null = omit the kid header
  const protectedHeader = {
    alg,
    typ: 'JWT',
    ...(effectiveKid == null ? {} : { kid: effectiveKid }),
    // Applied last on purpose: tests may override alg/typ/kid in the header to build
    // tokens whose header lies about how they were signed.
    ...header,
  };
  return compactJws(protectedHeader, claims, signer);
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

let issuer;
let active; // { provider, callback, keySet }: swapped wholesale on rotation
let jwksRequests = 0;
let rotation = Promise.resolve(); // serializes rotations

function buildActive(keySet) {
  const provider = new Provider(issuer, providerConfiguration(keySet));
  provider.on('server_error', (_ctx, err) => log(`server_error: ${err.stack || err}`));
  // Token endpoint failures are usually a test bug; make them visible in test logs.
  provider.on('grant.error', (_ctx, err) => log(`grant.error: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`));
  return { provider, callback: provider.callback(), keySet };
}

function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`invalid JSON body: ${err.message}`);
  }
}

const TEST_ROUTES = {
  'POST /__test/sign': async (req) => {
    const body = await readJson(req);
    return { token: await forgeToken(body, active.keySet) };
  },
  'POST /__test/rotate': async () => {
    const next = rotation.then(async () => {
      // The old provider instance is simply dropped: in-flight requests finish on it,
      // everything after the swap (JWKS, tokens, /__test/sign) sees only the new keys.
      active = buildActive(await generateKeySet());
      log(`rotated keys: ${JSON.stringify(kidsOf(active.keySet))}`);
      return { kids: kidsOf(active.keySet) };
    });
    rotation = next.catch(() => {});
    return next;
  },
  'GET /__test/keys': async () => ({ kids: kidsOf(active.keySet) }),
  'GET /__test/stats': async () => ({ jwks_requests: jwksRequests }),
};

async function handleTestRoute(req, res, pathname) {
  const route = TEST_ROUTES[`${req.method} ${pathname}`];
  if (!route) {
    const known = Object.keys(TEST_ROUTES).some((k) => k.endsWith(` ${pathname}`));
    sendJson(res, known ? 405 : 404, { error: known ? 'method not allowed' : 'not found' });
    return;
  }
  try {
    sendJson(res, 200, await route(req));
  } catch (err) {
    if (err instanceof BadRequest) {
      sendJson(res, 400, { error: err.message });
    } else {
      log(`${req.method} ${pathname} failed: ${err.stack || err}`);
      sendJson(res, 500, { error: String(err.message || err) });
    }
  }
}

const server = http.createServer((req, res) => {
  if (!active) {
    sendJson(res, 503, { error: 'starting' });
    return;
  }
  const pathname = req.url.split('?', 1)[0];
  if (pathname.startsWith('/__test/')) {
    handleTestRoute(req, res, pathname);
    return;
  }
  // Counted here rather than inside the provider so rotations don't reset it.
  if (pathname === ROUTES.jwks) jwksRequests += 1;
  // oidc-provider builds discovery URLs from the Host header, so a client using
  // "localhost" would see endpoints on an origin other than the issuer's. Pin it.
  req.headers.host = new URL(issuer).host;
  active.callback(req, res);
});

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

let shuttingDown = false;
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`shutting down (${reason})`);
  server.close();
  server.closeAllConnections();
  process.exit(0);
}

// The Rust test holds our stdin; when it dies (even by SIGKILL) the pipe closes and
// we must not linger as an orphan holding a port.
process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('close', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.on('error', (err) => fail(`http server: ${err.message}`));

// Listen first: the issuer contains the port, and port 0 is resolved only by listen().
await new Promise((resolve) => server.listen(requestedPort, '127.0.0.1', resolve));
const { port } = server.address();
issuer = `http://127.0.0.1:${port}`;
active = buildActive(await generateKeySet());

if (!shuttingDown) {
  process.stdout.write(`${JSON.stringify({
    issuer,
    port,
    token_endpoint: `${issuer}${ROUTES.token}`,
    jwks_uri: `${issuer}${ROUTES.jwks}`,
    audience,
  })}\n`);
  log(`ready at ${issuer} with kids ${JSON.stringify(kidsOf(active.keySet))}`);
}
