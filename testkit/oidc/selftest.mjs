// End-to-end self-test of server.mjs: starts it as a child process exactly the way the
// Rust harness does (stdin piped, one JSON line on stdout) and checks every promise the
// protocol makes. Exit 0 = all good; non-zero with a message on the first failure.
//
//   node testkit/oidc/selftest.mjs

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as assert from 'node:assert/strict';

import {
  createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify,
} from 'jose';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const OVERALL_TIMEOUT_MS = 90_000;
const READY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;

const children = new Set();
let checks = 0;

function ok(message) {
  checks += 1;
  console.log(`ok ${checks} - ${message}`);
}

// ---------------------------------------------------------------------------
// Child process management
// ---------------------------------------------------------------------------

function startServer(env = {}) {
  const child = spawn(process.execPath, [SERVER], {
    // A cwd other than the script's proves paths are resolved relative to the script.
    cwd: '/',
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);

  let stdout = '';
  let stderr = '';
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  child.stderr.on('data', (d) => { stderr += d; });

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready after ${READY_TIMEOUT_MS}ms\nstderr:\n${stderr}`)), READY_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(stdout.slice(0, nl)));
        } catch (err) {
          reject(new Error(`first stdout line is not JSON: ${stdout.slice(0, nl)}`));
        }
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited before ready (code ${code}, signal ${signal})\nstderr:\n${stderr}`));
    });
  });

  return {
    child,
    ready,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
  };
}

async function expectExit(server, what) {
  const result = await Promise.race([
    server.exited,
    new Promise((resolve) => setTimeout(() => resolve(null), EXIT_TIMEOUT_MS)),
  ]);
  assert.ok(result, `server did not exit within ${EXIT_TIMEOUT_MS}ms after ${what}`);
  return result;
}

function assertSingleStdoutLine(server) {
  const lines = server.stdout().split('\n');
  assert.equal(lines.length, 2, `stdout must hold exactly one line, got: ${JSON.stringify(server.stdout())}`);
  assert.equal(lines[1], '', 'stdout must end with the newline of the ready line');
}

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

async function getJson(url) {
  const res = await fetch(url);
  const body = await res.json();
  return { status: res.status, body };
}

async function postJson(url, payload) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  return { status: res.status, body: await res.json() };
}

async function requestToken(info, {
  clientId, secret = `${clientId}-secret`, resource, auth = 'post',
}) {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (resource !== undefined) form.set('resource', resource);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'post') {
    form.set('client_id', clientId);
    form.set('client_secret', secret);
  } else {
    const encode = (s) => encodeURIComponent(s); // RFC 6749 2.3.1 form-encodes both parts
    headers.authorization = `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
  }
  const res = await fetch(info.token_endpoint, { method: 'POST', headers, body: form });
  return { status: res.status, body: await res.json() };
}

async function fetchJwks(info) {
  const { status, body } = await getJson(info.jwks_uri);
  assert.equal(status, 200, 'JWKS status');
  return body;
}

const sign = (info, request) => postJson(`${info.issuer}/__test/sign`, request);

function decodePart(token, i) {
  return JSON.parse(Buffer.from(token.split('.')[i], 'base64url').toString('utf8'));
}

async function expectVerifyFailure(token, jwks, options, expectedError, what) {
  try {
    await jwtVerify(token, createLocalJWKSet(jwks), options);
  } catch (err) {
    assert.ok(err instanceof expectedError, `${what}: expected ${expectedError.name}, got ${err.name}: ${err.message}`);
    return;
  }
  assert.fail(`${what}: verification unexpectedly succeeded`);
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const ALG_BY_RESOURCE = [
  [undefined, 'RS256'], // default resource
  ['urn:warden', 'RS256'],
  ['urn:warden:es256', 'ES256'],
  ['urn:warden:eddsa', 'EdDSA'],
];

async function checkReadyLine(info, expectedAudience) {
  assert.match(info.issuer, /^http:\/\/127\.0\.0\.1:\d+$/, 'issuer format');
  assert.equal(info.issuer, `http://127.0.0.1:${info.port}`, 'issuer/port agree');
  assert.equal(info.token_endpoint, `${info.issuer}/token`, 'token_endpoint');
  assert.equal(new URL(info.jwks_uri).origin, info.issuer, 'jwks_uri on issuer origin');
  assert.equal(info.audience, expectedAudience, 'audience');
  assert.deepEqual(Object.keys(info), ['issuer', 'port', 'token_endpoint', 'jwks_uri', 'audience'], 'ready line keys');
  ok('ready line has the documented shape');
}

async function checkDiscovery(info) {
  const { status, body } = await getJson(`${info.issuer}/.well-known/openid-configuration`);
  assert.equal(status, 200);
  assert.equal(body.issuer, info.issuer, 'discovery issuer');
  assert.equal(body.jwks_uri, info.jwks_uri, 'discovery jwks_uri');
  assert.equal(body.token_endpoint, info.token_endpoint, 'discovery token_endpoint');
  assert.ok(body.grant_types_supported.includes('client_credentials'), 'client_credentials advertised');
  for (const m of ['client_secret_basic', 'client_secret_post']) {
    assert.ok(body.token_endpoint_auth_methods_supported.includes(m), `${m} advertised`);
  }

  // Endpoints must stay on the issuer origin even if the client addresses us by another
  // name (fetch cannot set Host, hence node:http).
  const viaOtherHost = await new Promise((resolve, reject) => {
    http.get(`${info.issuer}/.well-known/openid-configuration`, { headers: { host: `localhost:${info.port}` } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject);
  });
  assert.equal(viaOtherHost.issuer, info.issuer, 'issuer independent of Host header');
  assert.equal(viaOtherHost.jwks_uri, info.jwks_uri, 'jwks_uri independent of Host header');
  assert.equal(viaOtherHost.token_endpoint, info.token_endpoint, 'token_endpoint independent of Host header');
  ok('discovery advertises issuer, token endpoint and jwks_uri on the same origin');
}

async function checkJwks(info) {
  const jwks = await fetchJwks(info);
  const { body: { kids } } = await getJson(`${info.issuer}/__test/keys`);
  assert.equal(jwks.keys.length, 3, 'JWKS has one key per alg');
  for (const [alg, kty] of [['RS256', 'RSA'], ['ES256', 'EC'], ['EdDSA', 'OKP']]) {
    const jwk = jwks.keys.find((k) => k.kid === kids[alg]);
    assert.ok(jwk, `JWKS contains ${alg} kid ${kids[alg]}`);
    assert.equal(jwk.kty, kty);
    assert.equal(jwk.alg, alg);
    assert.equal(jwk.use, 'sig');
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(jwk[priv], undefined, `no private ${priv} in JWKS`);
  }
  assert.equal(new Set(jwks.keys.map((k) => k.kid)).size, 3, 'kids unique');
  ok('JWKS publishes exactly the three public keys with kid/alg/use, matching /__test/keys');
  return { jwks, kids };
}

async function checkRealTokens(info, jwks, clients) {
  const tokens = {};
  for (const { clientId, secret, groups } of clients) {
    for (const [resource, alg] of ALG_BY_RESOURCE) {
      for (const auth of ['post', 'basic']) {
        const before = Math.floor(Date.now() / 1000);
        const { status, body } = await requestToken(info, {
          clientId, secret, resource, auth,
        });
        const what = `${clientId} resource=${resource ?? '(default)'} auth=${auth}`;
        assert.equal(status, 200, `${what}: token status ${status} ${JSON.stringify(body)}`);
        assert.equal(body.token_type, 'Bearer');
        assert.equal(body.expires_in, 600);

        const token = body.access_token;
        const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
          issuer: info.issuer,
          audience: info.audience,
          algorithms: [alg],
          typ: 'at+jwt',
        });
        assert.equal(protectedHeader.alg, alg, `${what}: alg`);
        assert.ok(jwks.keys.some((k) => k.kid === protectedHeader.kid), `${what}: kid in JWKS`);
        assert.equal(payload.aud, info.audience, `${what}: aud is the plain audience string`);
        assert.equal(payload.sub, clientId, `${what}: sub`);
        assert.equal(payload.client_id, clientId, `${what}: client_id`);
        assert.deepEqual(payload.groups, groups, `${what}: groups`);
        assert.deepEqual(payload.realm_access, { roles: groups }, `${what}: realm_access.roles`);
        assert.equal(payload.exp - payload.iat, 600, `${what}: 10 minute lifetime`);
        assert.ok(Math.abs(payload.iat - before) <= 5, `${what}: iat is now`);
        assert.equal(payload.scope, undefined, `${what}: no scope`);
        tokens[`${clientId}/${alg}`] = token;
      }
    }
  }
  ok(`real tokens for ${clients.length} clients x 4 resources x 2 auth methods verify against the JWKS with the expected claims`);
  return tokens;
}

async function checkTokenErrors(info) {
  let res = await requestToken(info, { clientId: 'alice', secret: 'wrong' });
  assert.equal(res.status, 401, 'wrong secret status');
  assert.equal(res.body.error, 'invalid_client');
  res = await requestToken(info, { clientId: 'alice', secret: 'wrong', auth: 'basic' });
  assert.equal(res.status, 401, 'wrong basic secret status');
  res = await requestToken(info, { clientId: 'mallory', secret: 'x' });
  assert.equal(res.status, 401, 'unknown client status');
  res = await requestToken(info, { clientId: 'alice', resource: 'urn:other' });
  assert.equal(res.status, 400, 'unknown resource status');
  assert.equal(res.body.error, 'invalid_target');
  ok('token endpoint rejects bad secrets, unknown clients and unknown resources');
}

async function checkForgedTokens(info, jwks, kids) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: info.issuer,
    aud: info.audience,
    sub: 'forger',
    iat: now,
    exp: now + 300,
    groups: ['eng'],
    realm_access: { roles: ['eng'] },
    n: 42,
    s: '42',
  };
  const verifyOptions = { issuer: info.issuer, audience: info.audience };

  // current key: indistinguishable from a real token as far as signature checks go.
  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    const { status, body } = await sign(info, { claims, alg, key: 'current' });
    assert.equal(status, 200, `sign current ${alg}: ${JSON.stringify(body)}`);
    const { payload, protectedHeader } = await jwtVerify(body.token, createLocalJWKSet(jwks), { ...verifyOptions, algorithms: [alg] });
    assert.deepEqual(payload, claims, `current ${alg}: claims verbatim`);
    assert.deepEqual(protectedHeader, { alg, typ: 'JWT', kid: kids[alg] }, `current ${alg}: header`);
  }
  ok('current-key tokens verify with the served JWKS and carry claims verbatim');

  // foreign key: real kid, wrong signature.
  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    const { status, body } = await sign(info, { claims, alg, key: 'foreign' });
    assert.equal(status, 200, `sign foreign ${alg}`);
    assert.equal(decodeProtectedHeader(body.token).kid, kids[alg], `foreign ${alg}: default kid is the real one`);
    await expectVerifyFailure(body.token, jwks, verifyOptions, joseErrors.JWSSignatureVerificationFailed, `foreign ${alg}`);

    const withKid = await sign(info, { claims, alg, key: 'foreign', kid: 'made-up' });
    assert.equal(decodeProtectedHeader(withKid.body.token).kid, 'made-up', `foreign ${alg}: explicit kid`);
    await expectVerifyFailure(withKid.body.token, jwks, verifyOptions, joseErrors.JWKSNoMatchingKey, `foreign ${alg} unknown kid`);
  }
  ok('foreign-key tokens keep the real kid (or the given one) and fail signature verification');

  // HS256 keyed with the public key PEM: must be reproducible from public data only.
  {
    const { status, body } = await sign(info, { claims, alg: 'HS256', key: 'public-as-hmac' });
    assert.equal(status, 200, 'sign public-as-hmac');
    const header = decodePart(body.token, 0);
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT', kid: kids.RS256 }, 'public-as-hmac header');
    const rsaJwk = jwks.keys.find((k) => k.kid === kids.RS256);
    const pem = crypto.createPublicKey({ key: rsaJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    assert.ok(pem.startsWith('-----BEGIN PUBLIC KEY-----\n') && pem.endsWith('-----END PUBLIC KEY-----\n'));
    const [h, p, s] = body.token.split('.');
    const expected = crypto.createHmac('sha256', pem).update(`${h}.${p}`).digest('base64url');
    assert.equal(s, expected, 'public-as-hmac signature = HMAC(SPKI PEM of the JWKS RSA key)');
    assert.deepEqual(decodePart(body.token, 1), claims);
    await expectVerifyFailure(body.token, jwks, verifyOptions, joseErrors.JOSENotSupported, 'public-as-hmac against JWKS');
    // A verifier holding the RSA key and pinning the alg rejects it too.
    await assert.rejects(
      jwtVerify(body.token, crypto.createPublicKey({ key: rsaJwk, format: 'jwk' }), { algorithms: ['RS256'] }),
      joseErrors.JOSEAlgNotAllowed,
    );
  }
  ok('public-as-hmac token is HMAC-SHA256 keyed with the RS256 key\'s SPKI PEM and is rejected by a correct verifier');

  {
    const { body } = await sign(info, { claims, alg: 'HS256', key: 'foreign' });
    assert.equal(decodeProtectedHeader(body.token).alg, 'HS256');
  }

  // alg none.
  {
    const { status, body } = await sign(info, { claims, alg: 'none' });
    assert.equal(status, 200, 'sign none');
    assert.ok(body.token.endsWith('.'), 'unsigned token ends with an empty signature');
    assert.equal(body.token.split('.').length, 3);
    assert.deepEqual(decodePart(body.token, 0), { alg: 'none', typ: 'JWT' }, 'none header without kid');
    assert.deepEqual(decodePart(body.token, 1), claims);
    const withKid = await sign(info, { claims, alg: 'none', kid: kids.RS256 });
    assert.deepEqual(decodePart(withKid.body.token, 0), { alg: 'none', typ: 'JWT', kid: kids.RS256 });
    await expectVerifyFailure(body.token, jwks, verifyOptions, joseErrors.JOSENotSupported, 'alg none against JWKS');
  }
  ok('alg none tokens are unsigned, with a kid only when asked');

  // Extra header fields, kid: null, and a header that lies about the alg.
  {
    const { body } = await sign(info, {
      claims, alg: 'RS256', key: 'current', header: { typ: 'at+jwt', jku: 'http://evil.example/jwks' },
    });
    const header = decodePart(body.token, 0);
    assert.deepEqual(header, {
      alg: 'RS256', typ: 'at+jwt', kid: kids.RS256, jku: 'http://evil.example/jwks',
    });
    await jwtVerify(body.token, createLocalJWKSet(jwks), { ...verifyOptions, typ: 'at+jwt' });

    const noKid = await sign(info, { claims, alg: 'ES256', kid: null });
    assert.equal(decodeProtectedHeader(noKid.body.token).kid, undefined, 'kid null omits kid');
    // Only one ES256 key exists, so a kid-less token still resolves.
    await jwtVerify(noKid.body.token, createLocalJWKSet(jwks), verifyOptions);

    const lying = await sign(info, { claims, alg: 'HS256', key: 'public-as-hmac', header: { alg: 'RS256' } });
    assert.equal(decodeProtectedHeader(lying.body.token).alg, 'RS256', 'header override wins');
    await expectVerifyFailure(lying.body.token, jwks, verifyOptions, joseErrors.JWSSignatureVerificationFailed, 'lying header');
  }
  ok('extra header fields are merged, kid:null omits the kid, header overrides are honoured');

  // Claims really are verbatim, including unusual values.
  {
    const odd = {
      exp: 'soon', aud: ['a', 'b'], nested: { deep: [1, 'two', null, true] }, big: 1e15,
    };
    const { body } = await sign(info, { claims: odd, alg: 'EdDSA' });
    assert.deepEqual(decodePart(body.token, 1), odd);
  }
  ok('odd claim values survive unchanged');

  // Bad requests.
  for (const bad of [
    { alg: 'RS256' },
    { claims, alg: 'PS256' },
    { claims, alg: 'RS256', key: 'stolen' },
    { claims, alg: 'RS256', key: 'public-as-hmac' },
    { claims, alg: 'HS256', key: 'current' },
    { claims, alg: 'RS256', kid: 7 },
    { claims, alg: 'RS256', header: [] },
  ]) {
    const { status, body } = await sign(info, bad);
    assert.equal(status, 400, `bad sign request ${JSON.stringify(bad)} -> ${status}`);
    assert.equal(typeof body.error, 'string');
  }
  const notJson = await fetch(`${info.issuer}/__test/sign`, { method: 'POST', body: '{nope' });
  assert.equal(notJson.status, 400, 'invalid JSON body');
  assert.equal((await fetch(`${info.issuer}/__test/sign`)).status, 405, 'GET /__test/sign');
  assert.equal((await fetch(`${info.issuer}/__test/nope`)).status, 404, 'unknown test route');
  ok('malformed /__test/ requests get 400/404/405 with a JSON error');
}

async function checkStats(info) {
  const read = async () => (await getJson(`${info.issuer}/__test/stats`)).body.jwks_requests;
  const before = await read();
  assert.ok(Number.isInteger(before) && before >= 0);
  await fetchJwks(info);
  await fetchJwks(info);
  assert.equal(await read(), before + 2, 'each JWKS fetch is counted');
  await getJson(`${info.issuer}/.well-known/openid-configuration`);
  assert.equal(await read(), before + 2, 'discovery is not counted');
  ok('/__test/stats counts JWKS fetches');
}

async function checkRotation(info, oldJwks, oldKids, oldTokens) {
  const statsBefore = (await getJson(`${info.issuer}/__test/stats`)).body.jwks_requests;
  const { status, body } = await postJson(`${info.issuer}/__test/rotate`);
  assert.equal(status, 200, 'rotate status');
  const newKids = body.kids;
  assert.deepEqual(Object.keys(newKids).sort(), ['ES256', 'EdDSA', 'RS256']);
  for (const alg of Object.keys(oldKids)) assert.notEqual(newKids[alg], oldKids[alg], `${alg} kid changed`);
  assert.deepEqual((await getJson(`${info.issuer}/__test/keys`)).body.kids, newKids, '/__test/keys after rotate');

  const jwks = await fetchJwks(info);
  assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), Object.values(newKids).sort(), 'JWKS holds only the new kids');
  assert.equal((await getJson(`${info.issuer}/__test/stats`)).body.jwks_requests, statsBefore + 1, 'stats survive rotation');

  // New real tokens use the new keys; old real tokens no longer resolve to any served key.
  for (const [resource, alg] of ALG_BY_RESOURCE.slice(1)) {
    const res = await requestToken(info, { clientId: 'alice', resource });
    assert.equal(res.status, 200);
    const { protectedHeader } = await jwtVerify(res.body.access_token, createLocalJWKSet(jwks), {
      issuer: info.issuer, audience: info.audience, algorithms: [alg],
    });
    assert.equal(protectedHeader.kid, newKids[alg], `new ${alg} token uses new kid`);
    await expectVerifyFailure(oldTokens[`alice/${alg}`], jwks, {}, joseErrors.JWKSNoMatchingKey, `old ${alg} token after rotation`);
    // ...but they were genuine: still valid against the old JWKS.
    await jwtVerify(oldTokens[`alice/${alg}`], createLocalJWKSet(oldJwks));
  }

  // /__test/sign follows the rotation too.
  const forged = await sign(info, { claims: { sub: 'x' }, alg: 'ES256', key: 'current' });
  assert.equal(decodeProtectedHeader(forged.body.token).kid, newKids.ES256);
  await jwtVerify(forged.body.token, createLocalJWKSet(jwks));

  // Discovery still points at the same issuer and JWKS.
  const disco = await getJson(`${info.issuer}/.well-known/openid-configuration`);
  assert.equal(disco.body.issuer, info.issuer);
  assert.equal(disco.body.jwks_uri, info.jwks_uri);
  ok('rotate replaces all keys: JWKS shows only new kids, new tokens use them, old tokens stop resolving');

  // A second rotation works as well (the provider swap is repeatable).
  const again = await postJson(`${info.issuer}/__test/rotate`);
  assert.equal(again.status, 200);
  for (const alg of Object.keys(newKids)) assert.notEqual(again.body.kids[alg], newKids[alg]);
  ok('rotation is repeatable');
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const DEFAULT_CLIENTS = [
  { clientId: 'alice', groups: ['eng'] },
  { clientId: 'bob', groups: ['interns'] },
  { clientId: 'carol', groups: ['approvers', 'eng'] },
  { clientId: 'ci-bot', groups: ['ci'] },
  { clientId: 'nobody', groups: [] },
];

async function mainDefaultServer() {
  const server = startServer({ OIDC_PORT: '', OIDC_CLIENTS: '', OIDC_AUDIENCE: '' });
  const info = await server.ready;
  ok(`server A started at ${info.issuer}`);

  await checkReadyLine(info, 'warden');
  await checkDiscovery(info);
  const { jwks, kids } = await checkJwks(info);
  const tokens = await checkRealTokens(info, jwks, DEFAULT_CLIENTS);
  await checkTokenErrors(info);
  await checkForgedTokens(info, jwks, kids);
  await checkStats(info);
  await checkRotation(info, jwks, kids, tokens);

  // The Rust harness's lifeline: closing stdin must end the process.
  server.child.stdin.end();
  const { code } = await expectExit(server, 'stdin close');
  assert.equal(code, 0, 'exit code after stdin close');
  assertSingleStdoutLine(server);
  assert.match(server.stderr(), /shutting down \(stdin closed\)/);
  ok('server A exits 0 when stdin closes, having printed exactly one stdout line');
}

async function mainCustomServer() {
  const port = await freePort();
  const custom = [
    { client_id: 'svc', client_secret: 's3cr3t:with/odd chars', groups: ['g1', 'g2'] },
    { client_id: 'defaulted' }, // secret and groups default
  ];
  const server = startServer({
    OIDC_PORT: String(port),
    OIDC_CLIENTS: JSON.stringify(custom),
    OIDC_AUDIENCE: 'https://warden.test/api',
  });
  const info = await server.ready;
  assert.equal(info.port, port, 'OIDC_PORT honoured');
  await checkReadyLine(info, 'https://warden.test/api');
  await checkDiscovery(info);
  const { jwks } = await checkJwks(info);
  await checkRealTokens(info, jwks, [
    { clientId: 'svc', secret: custom[0].client_secret, groups: ['g1', 'g2'] },
    { clientId: 'defaulted', secret: 'defaulted-secret', groups: [] },
  ]);
  const res = await requestToken(info, { clientId: 'alice' });
  assert.equal(res.status, 401, 'default clients absent when OIDC_CLIENTS is set');
  ok('server B: OIDC_PORT, OIDC_CLIENTS (with defaults) and OIDC_AUDIENCE are honoured');

  server.child.kill('SIGTERM');
  const { code } = await expectExit(server, 'SIGTERM');
  assert.equal(code, 0, 'exit code after SIGTERM');
  assertSingleStdoutLine(server);
  ok('server B exits 0 on SIGTERM, having printed exactly one stdout line');
}

async function mainBadConfig() {
  for (const [env, pattern] of [
    [{ OIDC_CLIENTS: '{"not":"an array"}' }, /must be a JSON array/],
    [{ OIDC_CLIENTS: '[{"client_id":"a"},{"client_id":"a"}]' }, /duplicate client_id/],
    [{ OIDC_PORT: 'eighty' }, /invalid OIDC_PORT/],
  ]) {
    const server = startServer(env);
    server.ready.catch(() => {});
    const { code } = await expectExit(server, `bad config ${JSON.stringify(env)}`);
    assert.notEqual(code, 0, `bad config ${JSON.stringify(env)} exits non-zero`);
    assert.match(server.stderr(), pattern);
    assert.equal(server.stdout(), '', 'no ready line on bad config');
  }
  ok('invalid configuration fails fast with a message and no ready line');
}

const watchdog = setTimeout(() => {
  console.error(`selftest FAILED: timed out after ${OVERALL_TIMEOUT_MS}ms`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(2);
}, OVERALL_TIMEOUT_MS);

try {
  await mainDefaultServer();
  await mainCustomServer();
  await mainBadConfig();
  clearTimeout(watchdog);
  console.log(`selftest passed: ${checks} checks`);
} catch (err) {
  clearTimeout(watchdog);
  console.error(`selftest FAILED: ${err.stack || err}`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
}
