import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ProblemError, normalizeTarget } from '../../src/http/index.ts'

function rejection(target: string): ProblemError {
  try {
    normalizeTarget(target)
  } catch (error) {
    assert.ok(error instanceof ProblemError, `expected a ProblemError for ${JSON.stringify(target)}`)
    return error
  }
  assert.fail(`expected ${JSON.stringify(target)} to be rejected`)
}

describe('normalizeTarget: canonical paths', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['/a', '/a'],
    ['/a/b/c', '/a/b/c'],
    ['/api/v1/orgs/org_123/members', '/api/v1/orgs/org_123/members'],
    ["/a-b_c~d!$&'()*+,=:@e", "/a-b_c~d!$&'()*+,=:@e"],
    ['/a..b/c.', '/a..b/c.'],
    ['/.well-known/jwks.json', '/.well-known/jwks.json'],
    ['/...', '/...'],
    // dot-segment removal (RFC 3986 §5.2.4)
    ['/a/./b/../c', '/a/c'],
    ['/a/b/../../c', '/c'],
    ['/..', '/'],
    ['/../../..', '/'],
    ['/../a', '/a'],
    ['/a/../../b', '/b'],
    ['/.', '/'],
    ['/./', '/'],
    ['/a/.', '/a/'],
    ['/a/b/..', '/a/'],
    ['/a/b/../', '/a/'],
    ['/a/..', '/'],
    // merged slashes
    ['//a///b', '/a/b'],
    ['//', '/'],
    ['///', '/'],
    ['/a//', '/a/'],
    ['/a//../b', '/b'],
    // trailing slash kept
    ['/a/b/', '/a/b/'],
    ['/a/', '/a/'],
    // unreserved characters decoded, before dot-segment removal
    ['/a%41b', '/aAb'],
    ['/%7euser', '/~user'],
    ['/%7Euser', '/~user'],
    ['/%61%62%63', '/abc'],
    ['/%30%39%2d%5f%2e%7e', '/09-_.~'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/%2E%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/a/%2e./b', '/b'],
    ['/a/%2e/b', '/a/b'],
    ['/a/b/%2e%2e', '/a/'],
    ['/%2e%2e%2e', '/...'],
    // other escapes kept, upper-cased
    ['/a%2ab', '/a%2Ab'],
    ['/a%20b', '/a%20b'],
    ['/a%3fb', '/a%3Fb'],
    ['/a%23b', '/a%23b'],
    ['/a%25b', '/a%25b'],
    ['/caf%C3%A9', '/caf%C3%A9'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/%E2%82%AC', '/%E2%82%AC'],
    ['/%F0%9F%98%80', '/%F0%9F%98%80'],
    ['/%F4%8F%BF%BF', '/%F4%8F%BF%BF'],
    ['/%ED%9F%BF', '/%ED%9F%BF'],
    // characters outside the RFC 3986 path syntax encoded, so each has a single spelling
    ['/a{b}', '/a%7Bb%7D'],
    ['/a|b^c`d', '/a%7Cb%5Ec%60d'],
    ['/"<x>"', '/%22%3Cx%3E%22'],
    ['/[::1]', '/%5B::1%5D'],
  ]
  for (const [target, path] of cases) {
    it(`${target} → ${path}`, () => {
      assert.deepEqual(normalizeTarget(target), { path, query: '' })
    })
  }

  it('gives one path for every spelling of the same resource', () => {
    const spellings = ['/admin', '/%61dmin', '/%61%64%6D%69%6E', '//admin', '/./admin', '/x/../admin', '/x/%2e%2e/admin']
    for (const target of spellings) assert.equal(normalizeTarget(target).path, '/admin', target)
    assert.equal(normalizeTarget('/a{').path, normalizeTarget('/a%7b').path)
  })
})

describe('normalizeTarget: attack corpus', () => {
  const canonical: [string, string][] = [
    ['/admin/../public', '/public'],
    ['/public/../admin', '/admin'],
    ['/%2e%2e/admin', '/admin'],
    ['/.%2e/admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/.%2E/admin', '/admin'],
    ['/public/%2E./admin', '/admin'],
    ['//admin', '/admin'],
    ['/public//..//admin', '/admin'],
    ['/a%41b', '/aAb'],
    ['/%7euser', '/~user'],
    ['/caf%C3%A9', '/caf%C3%A9'],
  ]
  for (const [target, path] of canonical) {
    it(`${target} → ${path}`, () => assert.equal(normalizeTarget(target).path, path))
  }

  const rejected = [
    '/%2E%2E%2Fadmin',
    '/admin%2f..',
    '/admin%2F..',
    '/public%2f%2e%2e%2fadmin',
    '/admin;jsessionid=1',
    '/admin;/',
    '/public/..;/admin',
    '/a\\..\\admin',
    '/a\\b',
    '/a%00b',
    '/a%5cb',
    '/a%5Cb',
    '/a%3bb',
    '/a%3Bb',
    'http://evil/admin',
    'https://evil/admin',
    '*',
    '/%ff',
    '/%FF',
    '/%C3%28',
    '/%c0%ae%c0%ae/admin',
    '/%C0%AF',
  ]
  for (const target of rejected) {
    it(`rejects ${JSON.stringify(target)}`, () => assert.equal(rejection(target).status, 400))
  }
})

describe('normalizeTarget: rejections', () => {
  const cases: [string, string, RegExp][] = [
    ['empty', '', /empty/],
    ['asterisk form', '*', /asterisk/],
    ['absolute form', 'http://host/x', /starting with "\/"/],
    ['authority form', 'host:443', /starting with "\/"/],
    ['relative', 'a/b', /starting with "\/"/],
    ['query only', '?a=1', /starting with "\/"/],
    ['fragment in path', '/a#b', /#/],
    ['fragment in query', '/a?b#c', /#/],
    ['literal space', '/a b', /space/],
    ['literal tab', '/a\tb', /control/],
    ['literal CR', '/a\rb', /control/],
    ['literal LF', '/a\nb', /control/],
    ['literal NUL', '/a\u0000b', /control/],
    ['literal DEL', '/a\u007fb', /control/],
    ['Latin-1 byte', '/caf\u00e9', /non-ASCII/],
    ['non-Latin-1 char', '/\u2215admin', /non-ASCII/],
    ['C1 control', '/a\u0085', /non-ASCII/],
    ['literal backslash', '/a\\b', /"\\"/],
    ['literal semicolon', '/a;b', /";"/],
    ['encoded slash', '/a%2fb', /%2F/],
    ['encoded slash upper', '/a%2Fb', /%2F/],
    ['encoded backslash', '/a%5cb', /%5C/],
    ['encoded semicolon', '/a%3Bb', /%3B/],
    ['encoded NUL', '/a%00b', /%00/],
    ['encoded CR', '/a%0db', /%0D/],
    ['encoded LF', '/a%0Ab', /%0A/],
    ['encoded US', '/a%1fb', /%1F/],
    ['encoded DEL', '/a%7fb', /%7F/],
    ['lone percent', '/%', /Malformed/],
    ['percent at end', '/a%', /Malformed/],
    ['bad hex digit', '/%G1', /Malformed/],
    ['bad second hex digit', '/%1G', /Malformed/],
    ['truncated escape', '/%4', /Malformed/],
    ['truncated escape before slash', '/%4/a', /Malformed/],
    ['lone continuation byte', '/%80', /UTF-8/],
    ['invalid byte', '/%FF', /UTF-8/],
    ['lead byte then ASCII', '/%C3%28', /UTF-8/],
    ['lead byte at end', '/%C3', /UTF-8/],
    ['lead byte then literal', '/%C3a', /UTF-8/],
    ['lead byte then slash', '/%C3/%A9', /UTF-8/],
    ['extra continuation', '/%C3%A9%A9', /UTF-8/],
    ['overlong 2-byte', '/%C1%81', /UTF-8/],
    ['overlong 3-byte', '/%E0%80%AF', /UTF-8/],
    ['overlong 4-byte', '/%F0%80%80%AF', /UTF-8/],
    ['surrogate', '/%ED%A0%80', /UTF-8/],
    ['above U+10FFFF', '/%F4%90%80%80', /UTF-8/],
    ['5-byte lead', '/%F8%88%80%80%80', /UTF-8/],
    ['malformed continuation escape', '/%C3%A', /UTF-8/],
    ['control in query', '/a?b=\u0001', /control/],
    ['space in query', '/a?b c', /space/],
    ['non-ASCII in query', '/a?q=\u00e9', /non-ASCII/],
  ]
  for (const [name, target, detail] of cases) {
    it(`${name}: ${JSON.stringify(target)}`, () => {
      const error = rejection(target)
      assert.equal(error.status, 400)
      assert.equal(error.problem.type, 'urn:gatehouse:problem:bad-request')
      assert.match(error.problem.detail ?? '', detail)
    })
  }

  it('does not echo the raw target in the detail', () => {
    const secret = 'x'.repeat(200)
    for (const target of [`http://evil/${secret}`, `/${secret}%2f`, `/${secret}%zz${secret}`, `/${secret};`, `/${secret}#`]) {
      const detail = rejection(target).problem.detail ?? ''
      assert.ok(detail.length <= 100, detail)
      assert.ok(!detail.includes('xxxxxxxx'), detail)
    }
  })
})

describe('normalizeTarget: query', () => {
  const cases: [string, string, string][] = [
    ['/a?b=1', '/a', '?b=1'],
    ['/a?', '/a', '?'],
    ['/?x', '/', '?x'],
    ['/a/../b?c=%2f..%00;\\', '/b', '?c=%2f..%00;\\'],
    ['/a?b=1?c=2', '/a', '?b=1?c=2'],
    ['/a%2e%2e?x=/../', '/a..', '?x=/../'],
    ['//a?x=%zz', '/a', '?x=%zz'],
    ['/a?x={"y":[1]}', '/a', '?x={"y":[1]}'],
  ]
  for (const [target, path, query] of cases) {
    it(`${target} → ${path} + ${query}`, () => assert.deepEqual(normalizeTarget(target), { path, query }))
  }

  it('still checks the path when the query is fine', () => {
    assert.equal(rejection('/a%2f?b=1').status, 400)
    assert.equal(rejection('/a;b?c').status, 400)
  })

  it('does not treat a ? inside an escape as the query start', () => {
    assert.deepEqual(normalizeTarget('/a%3F?b'), { path: '/a%3F', query: '?b' })
  })
})

describe('normalizeTarget: properties', () => {
  // A deterministic generator over the characters that matter to canonicalisation.
  function* targets(count: number): Generator<string> {
    const alphabet = ['/', '/', '.', '.', '%2e', '%2E', '%2f', '%41', '%c3%a9', '%', 'a', 'B', '~', ';', '\\', '?', '{', '%25', '%7e']
    let seed = 42
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed
    }
    for (let n = 0; n < count; n++) {
      let target = '/'
      const length = next() % 12
      for (let k = 0; k < length; k++) target += alphabet[next() % alphabet.length]
      yield target
    }
  }

  it('accepts only targets whose path is a fixed point with no dot-segment or separator hidden by encoding', () => {
    let accepted = 0
    for (const target of targets(20_000)) {
      let path: string
      try {
        path = normalizeTarget(target).path
      } catch (error) {
        assert.ok(error instanceof ProblemError && error.status === 400, target)
        continue
      }
      accepted++
      assert.equal(normalizeTarget(path).path, path, `not idempotent: ${target} → ${path}`)
      assert.ok(path.startsWith('/') && !path.includes('//'), `${target} → ${path}`)
      assert.doesNotMatch(path, /%(?:[0-9A-F][a-f]|[a-f][0-9A-Fa-f])/, `lower-case escape: ${target} → ${path}`)
      // What an upstream sees after decoding once must itself be free of dot-segments and of
      // separators gatehouse did not see.
      const decoded = decodeURIComponent(path)
      assert.ok(!/[\\;]/.test(decoded), `${target} → ${path}`)
      const segments = decoded.split('/').slice(1)
      segments.forEach((segment, i) => {
        const last = i === segments.length - 1
        assert.ok(segment !== '.' && segment !== '..' && (last || segment !== ''), `${target} → ${path}`)
      })
      assert.equal(decoded.split('/').length, path.split('/').length, `encoded slash leaked: ${target} → ${path}`)
      // Nor after decoding twice: no escaped escape survives.
      assert.doesNotMatch(decoded, /%[0-9A-Fa-f]{2}/, `double encoding kept: ${target} → ${path}`)
    }
    assert.ok(accepted > 1000, `only ${accepted} targets accepted`)
  })

  it('returns the same path from the fast path as from the general one', () => {
    // `/a//b` and `/./a/b` leave the fast path; their canonical forms must match the fast path's output.
    assert.equal(normalizeTarget('/a/b/c').path, normalizeTarget('/a//b/./c').path)
    assert.equal(normalizeTarget('/a/b/').path, normalizeTarget('/a/b//').path)
  })
})
