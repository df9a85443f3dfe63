import type { SignInSettings } from './context.ts'

const PRINTABLE_ASCII = /^[\u0021-\u007e]+$/

/**
 * Where a sign-in (a form post, a magic link, an accepted invitation) may send the browser: a
 * path on the gateway itself, or an absolute http(s) URL whose origin is one of `origins`
 * exactly. Everything a browser would read as another place is refused rather than repaired:
 * `//host` and `/\host` (scheme-relative), backslashes and control characters or spaces anywhere
 * (browsers strip or turn them into slashes), user info (`https://app@evil`), and any scheme
 * other than http and https (`javascript:`, `data:`). A path is sent back as given, so it must be
 * printable ASCII: anything else cannot be a Location header (Node throws), and lookalike
 * slashes (`/∕∕host`) are left to no browser's reading. Undefined: not allowed.
 */
export function allowedRedirect(target: string, origins: ReadonlySet<string>): string | undefined {
  if (target.length === 0 || target.length > 2048) return undefined
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u0020\u007f\\]/.test(target)) return undefined
  if (target.startsWith('/')) return target.startsWith('//') || !PRINTABLE_ASCII.test(target) ? undefined : target
  let url: URL
  try {
    url = new URL(target)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username !== '' || url.password !== '') return undefined
  return origins.has(url.origin) ? url.href : undefined
}

/** The sign-in settings of `end_users`: the gateway's own origin is always a redirect target, as its paths are. */
export function signInSettingsOf(endUsers: { publicUrl?: string; redirectOrigins: readonly string[] }): SignInSettings {
  return {
    publicUrl: endUsers.publicUrl,
    redirectOrigins: new Set([...endUsers.redirectOrigins, ...(endUsers.publicUrl ? [endUsers.publicUrl] : [])]),
  }
}
