import { createHash } from 'node:crypto'
import { RESERVED_PREFIX } from '../rules/index.ts'
import { COPY_SCRIPT } from './copy-script.ts'
import { STYLESHEET } from './stylesheet.ts'

export const ASSETS_PATH = `${RESERVED_PREFIX}/assets/`

/** A file the pages link to: its versioned URL (the content's hash in the name) and what is served there. */
export type Asset = { path: string; contentType: string; body: Buffer }

function asset(name: string, extension: string, contentType: string, text: string): Asset {
  const body = Buffer.from(text, 'utf8')
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16)
  return { path: `${ASSETS_PATH}${name}.${hash}.${extension}`, contentType, body }
}

export const STYLESHEET_ASSET = asset('gatehouse', 'css', 'text/css; charset=utf-8', STYLESHEET)
export const SCRIPT_ASSET = asset('copy', 'js', 'text/javascript; charset=utf-8', COPY_SCRIPT)

const BY_PATH: ReadonlyMap<string, Asset> = new Map([STYLESHEET_ASSET, SCRIPT_ASSET].map((a) => [a.path, a]))

/** The asset served at a canonical path; an older version's name is not one (its hash differs). */
export const assetAt = (path: string): Asset | undefined => BY_PATH.get(path)
