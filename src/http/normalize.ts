import { ProblemError, problems } from './problem.ts'

/**
 * A request target reduced to the one form that is both matched against the routes and forwarded
 * upstream. Matching one string and forwarding another is how a request is let in as `/public`
 * and served as `/admin`, so nothing downstream may re-derive the path from the raw target.
 */
export type NormalizedTarget = {
  /** Canonical path: no dot-segments, no empty segments, unreserved characters decoded, escapes upper-case. */
  path: string
  /** The raw query including its leading `?`, or `''`; never rewritten, because gatehouse does not route on it. */
  query: string
}

const SLASH = 0x2f
const PERCENT = 0x25
const HASH = 0x23
const QUESTION = 0x3f

const UNRESERVED = 'A-Za-z0-9\\-._~'
const SEGMENT_CHAR = `[${UNRESERVED}!$&'()*+,=:@]`
const SEGMENT_START = "[A-Za-z0-9\\-_~!$&'()*+,=:@]"
const SEGMENT = `${SEGMENT_START}${SEGMENT_CHAR}*`

/**
 * Targets that are canonical as they stand: every segment starts with something other than a dot
 * (so none is a dot-segment) and is non-empty (so no slashes repeat), and there is no `%`, `\` or
 * `;`. Segments cannot overlap, so the match is linear. The query may hold any printable ASCII but `#`.
 */
const CANONICAL_TARGET = new RegExp(`^/(?:${SEGMENT}(?:/${SEGMENT})*/?)?(?:\\?[\\x21\\x22\\x24-\\x7e]*)?$`)

// What a literal path character becomes, and what an escaped byte below 0x80 becomes.
const KEEP = 0
/** A literal outside the RFC 3986 path syntax, encoded so that `{` and `%7B` cannot be two paths. */
const ENCODE = 1
/** An escaped unreserved byte: `%41` and `A` are one path to every server, so only `A` may exist. */
const DECODE = 2
/**
 * Literal `;` and `\` are separators to some upstream (Tomcat path parameters, IIS backslashes);
 * escaped `/`, `\`, `;` and control bytes are decoded by some upstreams into a separator or a
 * control character that gatehouse never matched on. Either way, one route here, another there.
 */
const REJECT = 3

const LITERAL = new Uint8Array(0x80).fill(KEEP)
for (const c of '"<>[]^`{|}') LITERAL[c.charCodeAt(0)] = ENCODE
for (const c of ';\\') LITERAL[c.charCodeAt(0)] = REJECT

const ESCAPE = new Uint8Array(0x80).fill(KEEP)
const UNRESERVED_CHAR = new RegExp(`^[${UNRESERVED}]$`)
for (let b = 0; b < 0x80; b++) {
  const c = String.fromCharCode(b)
  if (UNRESERVED_CHAR.test(c)) ESCAPE[b] = DECODE
  else if (b < 0x20 || b === 0x7f || c === '/' || c === '\\' || c === ';') ESCAPE[b] = REJECT
}

const HEX = Array.from({ length: 0x100 }, (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)

function reject(detail: string): never {
  throw new ProblemError(problems.badRequest(detail))
}

/**
 * Turns the raw request-target (`IncomingMessage.url`) into its canonical path and raw query, or
 * throws a 400 {@link ProblemError} when it cannot be made canonical without guessing how the
 * upstream would read it.
 */
export function normalizeTarget(rawTarget: string): NormalizedTarget {
  if (CANONICAL_TARGET.test(rawTarget)) {
    const q = rawTarget.indexOf('?')
    return q === -1 ? { path: rawTarget, query: '' } : { path: rawTarget.slice(0, q), query: rawTarget.slice(q) }
  }
  if (rawTarget === '') reject('The request target is empty')
  if (rawTarget === '*') reject('The asterisk-form request target is not accepted')
  if (rawTarget.charCodeAt(0) !== SLASH) reject('The request target must be a path starting with "/"')
  let q = -1
  for (let i = 0; i < rawTarget.length; i++) {
    const c = rawTarget.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) reject('The request target contains a control, space or non-ASCII character')
    if (c === HASH) reject('The request target contains a fragment ("#")')
    if (c === QUESTION && q === -1) q = i
  }
  return q === -1
    ? { path: canonicalPath(rawTarget), query: '' }
    : { path: canonicalPath(rawTarget.slice(0, q)), query: rawTarget.slice(q) }
}

/** `path` starts with `/` and holds only printable ASCII other than `#` and `?`. */
function canonicalPath(path: string): string {
  const segments: string[] = []
  let segment = ''
  let nonAscii = false
  let escapedPercent = false
  let i = 1
  for (;;) {
    if (i === path.length || path.charCodeAt(i) === SLASH) {
      // Merged slashes are empty segments dropped here, after decoding, so `%2e%2e` counts as `..`.
      if (segment === '..') segments.pop()
      else if (segment !== '' && segment !== '.') segments.push(segment)
      if (i === path.length) break
      segment = ''
      i++
      continue
    }
    const c = path.charCodeAt(i)
    if (c === PERCENT) {
      const byte = hexByte(path, i)
      if (byte < 0) reject(`Malformed percent-escape "${path.slice(i, i + 3)}" in the path`)
      if (byte >= 0x80) {
        const length = utf8EscapeLength(path, i, byte)
        if (length === 0) reject('Percent-escapes in the path are not valid UTF-8')
        nonAscii = true
        segment += path.slice(i, i + length).toUpperCase()
        i += length
        continue
      }
      const kind = ESCAPE[byte]
      if (kind === REJECT) reject(`Percent-escape ${HEX[byte]} is not accepted in the path`)
      if (byte === PERCENT) escapedPercent = true
      segment += kind === DECODE ? String.fromCharCode(byte) : HEX[byte]
      i += 3
      continue
    }
    const kind = LITERAL[c]
    if (kind === REJECT) reject(`A literal "${path[i]}" is not accepted in the path`)
    segment += kind === ENCODE ? HEX[c] : path[i]
    i++
  }
  // The last segment was left unpushed when it was empty or a dot-segment: RFC 3986 keeps the slash.
  const trailing = segment === '' || segment === '.' || segment === '..'
  const canonical = segments.length === 0 ? '/' : `/${segments.join('/')}${trailing ? '/' : ''}`
  if (nonAscii) rejectLookAlikes(canonical)
  // `%252e`, `%252f`: an escaped escape. Harmless to a server that decodes once, but one that
  // decodes twice (IIS of old, some routers, a second proxy) reads `.` and `/` gatehouse never saw.
  // Checked on the result, since decoding `%41` next to `%25` can form one.
  if (escapedPercent && DOUBLE_ENCODED.test(canonical)) reject('A percent-encoded escape (double encoding) is not accepted in the path')
  return canonical
}

/**
 * Refuses a path that Unicode compatibility normalization (NFKC) would change: fullwidth `％` and
 * `ａ`, ligatures, the Kelvin sign. Upstreams that normalize (IIS, Python's unicodedata, many
 * frameworks' slug handling) would read `/ａdmin` as `/admin`, a path no rule matched.
 */
function rejectLookAlikes(path: string): void {
  const decoded = decodeURIComponent(path)
  if (decoded.normalize('NFKC') !== decoded) reject('The path holds characters that Unicode NFKC normalization changes (look-alikes)')
}

const DOUBLE_ENCODED = /%25[0-9A-Fa-f]{2}/

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

/** The byte of the escape at `i` (where `%` is), or -1 when it is not `%` and two hex digits. */
function hexByte(s: string, i: number): number {
  const high = hexValue(s.charCodeAt(i + 1))
  const low = hexValue(s.charCodeAt(i + 2))
  return high < 0 || low < 0 ? -1 : high * 16 + low
}

/**
 * Length in characters of the escaped UTF-8 character that starts at `i` with lead byte `lead`, or
 * 0 when it is not exactly one well-formed character (Unicode table 3-7: no overlongs, no
 * surrogates, nothing past U+10FFFF). Invalid bytes are rejected rather than kept because
 * upstreams disagree on them: one replaces them with U+FFFD, another decodes them as Latin-1.
 */
function utf8EscapeLength(path: string, i: number, lead: number): number {
  let continuations: number
  let min = 0x80
  let max = 0xbf
  if (lead >= 0xc2 && lead <= 0xdf) continuations = 1
  else if (lead >= 0xe0 && lead <= 0xef) {
    continuations = 2
    if (lead === 0xe0) min = 0xa0
    else if (lead === 0xed) max = 0x9f
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    continuations = 3
    if (lead === 0xf0) min = 0x90
    else if (lead === 0xf4) max = 0x8f
  } else return 0
  for (let k = 1; k <= continuations; k++) {
    const at = i + 3 * k
    if (path.charCodeAt(at) !== PERCENT) return 0
    const byte = hexByte(path, at)
    if (byte < min || byte > max) return 0
    min = 0x80
    max = 0xbf
  }
  return 3 * (continuations + 1)
}
