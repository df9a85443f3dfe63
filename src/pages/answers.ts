import type { ServerResponse } from 'node:http'
import type { Asset } from './assets.ts'

/** What every page answer carries: nothing inline, nothing from elsewhere, never framed, never cached, no Referer out. */
export const PAGE_SECURITY_HEADERS: readonly string[] = [
  'content-security-policy',
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options',
  'nosniff',
  'referrer-policy',
  'no-referrer',
  'cache-control',
  'no-store',
  'x-frame-options',
  'DENY',
]

/** A rendered page (`status` 200 unless told), with the security headers and any extra ones (Set-Cookie). */
export function sendPage(res: ServerResponse, html: string, extra: readonly string[] = [], status = 200): void {
  const body = `<!doctype html>${html}`
  res.writeHead(status, [
    ...PAGE_SECURITY_HEADERS,
    ...extra,
    'content-type',
    'text/html; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
  ])
  res.end(body)
}

/** A form post's answer (post/redirect/get): 303 to a page of gatehouse's, never to a URL the request chose. */
export function seeOther(res: ServerResponse, location: string, extra: readonly string[] = []): void {
  res.writeHead(303, ['location', location, ...extra, 'cache-control', 'no-store', 'content-length', '0'])
  res.end()
}

/** An asset: its name changes with its content, so a browser may keep it for good. */
export function sendAsset(res: ServerResponse, asset: Asset): void {
  res.writeHead(200, [
    'content-type',
    asset.contentType,
    'content-length',
    String(asset.body.length),
    'cache-control',
    'public, max-age=31536000, immutable',
    'x-content-type-options',
    'nosniff',
  ])
  res.end(asset.body)
}
