import assert from 'node:assert/strict'
import { availableParallelism } from 'node:os'
import { describe, it } from 'node:test'
import { ConfigError, configWarnings, loadConfig, parseConfig } from '../../src/config/index.ts'
import { formatDuration, parseDuration } from '../../src/units/index.ts'

const BASE = `upstream:
  url: http://127.0.0.1:3000
tokens:
  issuers:
    - issuer: https://auth.example.com
      jwks_url: https://auth.example.com/.well-known/jwks.json
roles:
  - { name: Admin }
  - { name: Member }
routes:
`

function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, 'gh.yaml', env)
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.message.split('\n')
  }
  assert.fail('expected a ConfigError')
}

describe('loadConfig', () => {
  it('accepts config.example.yaml and compiles its routes', () => {
    const { config, routes } = loadConfig('config.example.yaml', {})
    assert.equal(config.server.listen.port, 8080)
    assert.equal(config.admin.apiKey, undefined)
    assert.equal(config.upstream.timeoutMs, 30_000)
    assert.deepEqual(config.rateLimits.user, { limit: 600, windowMs: 60_000, text: '600/1m' })
    assert.equal(routes.routes.length, 8)
  })

  it('interpolates ${VAR} and ${VAR:-default} inside values', () => {
    const { config } = parseConfig(
      BASE.replace('http://127.0.0.1:3000', '"http://${UP_HOST}:${UP_PORT:-3000}"') + '  - { path: /x, auth: none }\n',
      'gh.yaml',
      { UP_HOST: 'upstream.local' },
    )
    assert.equal(config.upstream.url.href, 'http://upstream.local:3000/')
  })

  it('names the line, column and key of an unset variable', () => {
    const lines = problemsOf(BASE + '  - { path: /x, auth: none }\nadmin:\n  api_key: "${NOPE}"\n')
    assert.deepEqual(lines, ['gh.yaml:13:12 admin.api_key: environment variable NOPE is not set (write ${NOPE:-default} for a default)'])
  })

  it('names the line and key of an unknown key', () => {
    const lines = problemsOf(BASE + '  - path: /x\n    auth: none\n    methds: [GET]\n')
    assert.deepEqual(lines, ['gh.yaml:13:5 routes[0].methds: unknown key "methds"'])
  })

  it('names the line of a wrong value', () => {
    const lines = problemsOf(BASE + '  - { path: /x, auth: admin }\n')
    assert.equal(lines.length, 1)
    assert.match(lines[0]!, /^gh\.yaml:11:17 routes\[0\]\.auth: /)
  })

  it('rejects durations and rates without units', () => {
    const lines = problemsOf(
      BASE.replace('url: http://127.0.0.1:3000', 'url: http://127.0.0.1:3000\n  timeout: 30') +
        '  - { path: /x, auth: user, rate_limit: "100" }\n',
    )
    assert.equal(lines.length, 2)
    assert.match(lines[0]!, /^gh\.yaml:3:3 upstream\.timeout: /)
    assert.match(lines[1]!, /routes\[0\]\.rate_limit: "100" is not a rate/)
  })

  it('rejects roles the config does not define', () => {
    const lines = problemsOf(BASE + '  - { path: "/org/:org_id/x", auth: org_member, min_role: Owner }\n')
    assert.match(lines[0]!, /^gh\.yaml:11:\d+ routes\[0\]\.min_role: unknown role "Owner"/)
  })

  it('refuses h2c, an unknown credential source and a source listed twice, at their line', () => {
    const lines = problemsOf(
      BASE +
        '  - { path: /ws, auth: user, upgrade: [websocket, h2c], credentials_from: [header, query] }\n  - { path: /w2, auth: user, credentials_from: [header, header] }\n',
    )
    assert.equal(lines.length, 3, lines.join('\n'))
    assert.match(lines[0]!, /^gh\.yaml:11:\d+ routes\[0\]\.upgrade\[1\]: h2c upgrades are never forwarded/)
    assert.match(lines[1]!, /^gh\.yaml:11:\d+ routes\[0\]\.credentials_from\[1\]: "query" is not a credential source/)
    assert.match(lines[2]!, /^gh\.yaml:12:\d+ routes\[1\]\.credentials_from: a source is listed twice/)
  })

  it('tunnels websocket and reads handshake credentials from the headers unless a route says otherwise', () => {
    const { routes } = parseConfig(
      BASE +
        '  - { path: /plain, auth: user }\n  - { path: /ws, auth: user, upgrade: [WebSocket, foo], credentials_from: [cookie:sid, websocket_protocol] }\n',
      'gh.yaml',
      {},
    )
    const [plain, ws] = routes.routes
    assert.deepEqual([...plain!.upgrade], ['websocket'])
    assert.deepEqual(plain!.handshakeCredentials, { header: true, cookies: [], websocketProtocol: false })
    assert.deepEqual([...ws!.upgrade], ['websocket', 'foo'])
    assert.deepEqual(ws!.handshakeCredentials, { header: false, cookies: ['sid'], websocketProtocol: true })
  })

  it('reports an unreachable rule at its line', () => {
    const lines = problemsOf(BASE + '  - { path: "/api/*", auth: user }\n  - { path: /api/me, auth: user }\n')
    assert.match(lines[0]!, /^gh\.yaml:12:7 routes\[1\]\.path: unreachable: routes\[0\]/)
  })

  it('reports YAML syntax errors with their position', () => {
    const lines = problemsOf('upstream: [\n')
    assert.match(lines[0]!, /^gh\.yaml:\d+:\d+ /)
  })

  it('takes at most one key source per issuer; with none, an http(s) issuer is discovered', () => {
    const noSource = BASE.replace('      jwks_url: https://auth.example.com/.well-known/jwks.json\n', '') + '  - { path: /x, auth: user }\n'
    const discovered = parseConfig(noSource, 'gh.yaml', {}).config.tokens.issuers[0]!
    assert.equal(discovered.discovery, true)
    assert.equal(discovered.jwksUrl, undefined)
    assert.equal(parseConfig(BASE + '  - { path: /x, auth: user }\n', 'gh.yaml', {}).config.tokens.issuers[0]!.discovery, false)

    const urn = problemsOf(noSource.replace('issuer: https://auth.example.com', 'issuer: urn:example:issuer'))
    assert.match(
      urn[0]!,
      /tokens\.issuers\[0\]\.issuer: without jwks_url, public_key or public_key_file the issuer must be an http\(s\) URL/,
    )
    const two = problemsOf(BASE.replace('      jwks_url:', '      public_key: k\n      jwks_url:') + '  - { path: /x, auth: user }\n')
    assert.match(two[0]!, /tokens\.issuers\[0\]: set at most one of jwks_url, public_key, public_key_file/)
  })

  it('defaults the JWKS cooldown to 5s', () => {
    const { config } = parseConfig(BASE + '  - { path: /x, auth: none }\n', 'gh.yaml', {})
    assert.equal(config.tokens.jwks.cooldownMs, 5_000)
    assert.equal(config.tokens.issuers[0]!.tokenType, 'any')
  })

  it("binds routes to named issuers, local being gatehouse's own", () => {
    const text = BASE.replace('    - issuer:', '    - name: corp\n      token_type: access\n      issuer:').replace(
      'tokens:\n',
      'tokens:\n  local_issuer: true\n',
    )
    const { config, routes } = parseConfig(
      text + '  - { path: /x, auth: user, issuers: [corp, local] }\n  - { path: /y, auth: user }\n',
      'gh.yaml',
      {},
    )
    assert.equal(config.tokens.issuers[0]!.name, 'corp')
    assert.equal(config.tokens.issuers[0]!.tokenType, 'access')
    assert.deepEqual([...routes.routes[0]!.issuers!], ['corp', 'local'])
    assert.equal(routes.routes[1]!.issuers, null)
  })

  it('rejects issuer names no issuer has, at their line', () => {
    const text = BASE.replace('    - issuer:', '    - name: corp\n      issuer:')
    const lines = problemsOf(text + '  - path: /x\n    auth: user\n    issuers:\n      - corp\n      - local\n')
    assert.deepEqual(lines, ['gh.yaml:16:9 routes[0].issuers[1]: unknown issuer "local" (issuer names: corp)'])
  })

  it('rejects a duplicate or reserved issuer name, and issuers on routes that read no credential', () => {
    const second = '    - { name: corp, issuer: https://b.example.com, jwks_url: https://b.example.com/jwks }\n'
    const twice = BASE.replace('    - issuer:', '    - name: corp\n      issuer:').replace('roles:', second + 'roles:')
    assert.deepEqual(problemsOf(twice + '  - { path: /x, auth: none }\n'), [
      'gh.yaml:8:9 tokens.issuers[1].name: issuer name corp is used twice',
    ])
    const lines = problemsOf(
      BASE.replace('    - issuer:', '    - name: local\n      issuer:') + '  - { path: /x, auth: optional, issuers: [local] }\n',
    )
    assert.deepEqual(lines, [
      "gh.yaml:5:7 tokens.issuers[0].name: the name local is reserved for gatehouse's own issuer",
      'gh.yaml:12:33 routes[0].issuers: issuers has no effect with auth: optional',
    ])
  })

  it('warns about an OIDC issuer without audience', () => {
    const oidc = BASE.replace('      jwks_url:', '      claims: oidc\n      jwks_url:') + '  - { path: /x, auth: none }\n'
    assert.deepEqual(configWarnings(parseConfig(oidc, 'gh.yaml', {}).config), [
      'tokens.issuers[0] (https://auth.example.com): claims: oidc without audience: an ID token for another client would pass; set audience',
    ])
    const withAudience = oidc.replace('      claims: oidc\n', '      claims: oidc\n      audience: my-api\n')
    assert.deepEqual(configWarnings(parseConfig(withAudience, 'gh.yaml', {}).config), [])
    assert.deepEqual(configWarnings(parseConfig(BASE + '  - { path: /x, auth: none }\n', 'gh.yaml', {}).config), [])
  })

  it('defaults the assertion to ES256, 30 s and unbound; bind_request turns binding on; ttl below 5 s is refused', () => {
    const { config } = parseConfig(BASE + '  - { path: /x, auth: none }\n', 'gh.yaml', {})
    assert.equal(config.identity.assertion.algorithm, 'ES256')
    assert.equal(config.identity.assertion.ttlMs, 30_000)
    assert.equal(config.identity.assertion.bindRequest, false)
    const bound = parseConfig(
      BASE + '  - { path: /x, auth: none }\nidentity: { assertion: { bind_request: true, ttl: 5s } }\n',
      'gh.yaml',
      {},
    )
    assert.equal(bound.config.identity.assertion.bindRequest, true)
    assert.equal(bound.config.identity.assertion.ttlMs, 5_000)
    const lines = problemsOf(BASE + '  - { path: /x, auth: none }\nidentity:\n  assertion:\n    ttl: 4s\n')
    assert.match(lines[0]!, /^gh\.yaml:\d+:\d+ identity\.assertion\.ttl: ttl must be at least 5s/)
  })

  it('refuses a route under the reserved /.gatehouse/ prefix in any letter case, at its line and key', () => {
    const text =
      BASE + '  - { path: /.gatehouse/auth, auth: none }\n  - path: /.GateHouse/*\n    auth: user\n  - { path: /x, auth: none }\n'
    assert.deepEqual(problemsOf(text), [
      "gh.yaml:11:7 routes[0].path: paths under /.gatehouse/ are reserved for gatehouse's own endpoints",
      "gh.yaml:12:5 routes[1].path: paths under /.gatehouse/ are reserved for gatehouse's own endpoints",
    ])
    // A wildcard or parameter would match the prefix, but the prefix is answered before any route.
    const { routes } = parseConfig(BASE + '  - { path: /:tenant/auth, auth: none }\n  - { path: /*, auth: none }\n', 'gh.yaml', {})
    assert.equal(routes.routes.length, 2)
  })

  it('refuses forward_auth without a trusted proxy to answer, at forward_auth.enabled', () => {
    const text = BASE + '  - { path: /x, auth: none }\nforward_auth:\n  enabled: true\n'
    assert.deepEqual(problemsOf(text), [
      'gh.yaml:13:3 forward_auth.enabled: forward_auth answers only trusted proxies: list the ingress address in server.trust_proxy',
    ])
    const { config } = parseConfig(text + 'server:\n  trust_proxy: [10.0.0.5]\n', 'gh.yaml', {})
    assert.equal(config.forwardAuth.enabled, true)
  })

  it('takes server.workers as a count or auto (one per available core), refused elsewhere at its line', () => {
    const text = BASE + '  - { path: /x, auth: none }\nserver:\n  workers: '
    assert.equal(parseConfig(text + '4\n', 'gh.yaml', {}).config.server.workers, 4)
    assert.equal(parseConfig(text + 'auto\n', 'gh.yaml', {}).config.server.workers, availableParallelism())
    for (const wrong of ['0', '2.5', 'many', '257']) {
      const lines = problemsOf(text + wrong + '\n')
      assert.equal(lines.length, 1, lines.join('\n'))
      assert.match(lines[0]!, /^gh\.yaml:13:\d+ server\.workers: (expected|at (least|most)) /)
    }
  })

  it('refuses trust_proxy entries that are not an address or CIDR, at their line, with the parser start uses', () => {
    const text = BASE + '  - { path: /x, auth: none }\nserver:\n  trust_proxy: [10.0.0.0/8, 10.0.0.0/, 10.0.0.0/33, localhost]\n'
    assert.deepEqual(problemsOf(text), [
      'gh.yaml:13:29 server.trust_proxy[1]: "10.0.0.0/" is not an IP address or CIDR block',
      'gh.yaml:13:40 server.trust_proxy[2]: "10.0.0.0/33" is not an IP address or CIDR block',
      'gh.yaml:13:53 server.trust_proxy[3]: "localhost" is not an IP address or CIDR block',
    ])
    const { config } = parseConfig(BASE + '  - { path: /x, auth: none }\nserver:\n  trust_proxy: [10.0.0.0/8, "::1"]\n', 'gh.yaml', {})
    assert.deepEqual(config.server.trustProxy, [
      { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
      { address: '::1', prefix: 128, family: 'ipv6' },
    ])
  })

  it('refuses TRACE, CONNECT and unknown methods in a route', () => {
    const lines = problemsOf(BASE + '  - { path: /x, auth: none, methods: [GET, trace, CONNECT, FETCH] }\n')
    assert.equal(lines.length, 3)
    assert.match(lines[0]!, /routes\[0\]\.methods\[1\]: TRACE is never forwarded/)
    assert.match(lines[2]!, /routes\[0\]\.methods\[3\]: FETCH is not an HTTP method/)
    const { routes } = parseConfig(BASE + '  - { path: /x, auth: none, methods: [propfind] }\n', 'gh.yaml', {})
    assert.deepEqual([...routes.routes[0]!.methods], ['PROPFIND'])
  })

  it('reports a missing file', () => {
    assert.throws(() => loadConfig('/nonexistent/gatehouse.yaml'), /cannot read the file: ENOENT/)
  })
})

describe('formatDuration', () => {
  it('writes the largest whole unit, and parses back to the same milliseconds', () => {
    const cases: [number, string][] = [
      [30_000, '30s'],
      [300_000, '5m'],
      [90_000, '90s'],
      [1500, '1500ms'],
      [7_200_000, '2h'],
      [86_400_000, '1d'],
      [0, '0ms'],
    ]
    for (const [ms, text] of cases) {
      assert.equal(formatDuration(ms), text)
      assert.equal(parseDuration(text), ms)
    }
  })
})
