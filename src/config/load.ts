import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { isMap, isPair, isScalar, LineCounter, parseDocument, visit } from 'yaml'
import type { Document, Node } from 'yaml'
import { compileRoutes } from '../rules/index.ts'
import type { RouteTable } from '../rules/index.ts'
import { ConfigError, formatKeyPath } from './errors.ts'
import type { ConfigProblem } from './errors.ts'
import { configSchema } from './schema.ts'
import type { GatehouseConfig } from './schema.ts'

export type LoadedConfig = {
  config: GatehouseConfig
  routes: RouteTable
  /** Absolute path of the file, and its folder: relative paths in the config resolve against it. */
  file: string
  dir: string
}

export type Environment = Readonly<Record<string, string | undefined>>

/** Reads, interpolates, validates and compiles a config file; throws ConfigError with every problem found. */
export function loadConfig(file: string, env: Environment = process.env): LoadedConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [
      { line: 0, col: 0, path: '', message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` },
    ])
  }
  return parseConfig(text, file, env)
}

export function parseConfig(text: string, file: string, env: Environment = process.env): LoadedConfig {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const at = (offset: number) => lines.linePos(offset)

  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ ...at(e.pos[0]), path: '', message: e.message.split('\n')[0]! })),
    )
  }

  const problems = interpolate(doc, env, at)
  const parsed = configSchema.safeParse(doc.toJS({ maxAliasCount: 100 }))
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined]
      for (const key of keys) {
        const path = key === undefined ? issue.path : [...issue.path, key]
        const message = key === undefined ? issue.message : `unknown key "${key}"`
        problems.push({ ...locate(doc, path, at), path: formatKeyPath(path), message })
      }
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, sortProblems(problems))

  const { table, problems: routeProblems } = compileRoutes(parsed.data.routes, { caseSensitive: parsed.data.upstream.caseSensitivePaths })
  if (routeProblems.length > 0) {
    throw new ConfigError(
      file,
      routeProblems.map((p) => {
        const path = ['routes', p.index, ...(p.key ? [p.key] : [])]
        return { ...locate(doc, path, at), path: formatKeyPath(path), message: p.message }
      }),
    )
  }
  const absolute = resolve(file)
  return { config: parsed.data, routes: table, file: absolute, dir: dirname(absolute) }
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/**
 * Replaces `${VAR}` and `${VAR:-default}` inside string scalars. Interpolating after parsing,
 * not in the raw text, means an environment value can never inject YAML structure.
 */
function interpolate(doc: Document, env: Environment, at: (offset: number) => { line: number; col: number }): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  visit(doc, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return
      node.value = node.value.replace(VARIABLE, (_match, name: string, fallback: string | undefined) => {
        const value = env[name]
        if (value !== undefined && value !== '') return value
        if (fallback !== undefined) return fallback
        problems.push({
          ...at(node.range?.[0] ?? 0),
          path: formatKeyPath(keyPathOf([...path, node])),
          message: `environment variable ${name} is not set (write \${${name}:-default} for a default)`,
        })
        return ''
      })
    },
  })
  return problems
}

/** The key path of a node from the ancestors `visit` hands over. */
function keyPathOf(ancestors: readonly unknown[]): (string | number)[] {
  const out: (string | number)[] = []
  for (let i = 0; i < ancestors.length; i++) {
    const node = ancestors[i]
    if (isPair(node) && isScalar(node.key)) out.push(String(node.key.value))
    else if (node && typeof node === 'object' && 'items' in node && !isMap(node)) {
      const child = ancestors[i + 1]
      const index = (node as { items: unknown[] }).items.indexOf(child)
      if (index >= 0) out.push(index)
    }
  }
  return out
}

/** Finds the closest node for a key path: the key itself when it exists, else its nearest ancestor. */
function locate(doc: Document, path: readonly PropertyKey[], at: (offset: number) => { line: number; col: number }) {
  for (let n = path.length; n >= 0; n--) {
    const prefix = path.slice(0, n)
    const parent = n === 0 ? doc.contents : (doc.getIn(prefix.slice(0, -1) as unknown[], true) as Node | undefined)
    const last = prefix.at(-1)
    if (n > 0 && isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last))
      const range = (pair?.key as Node | undefined)?.range
      if (range) return at(range[0])
    }
    const node = n === 0 ? doc.contents : (doc.getIn(prefix as unknown[], true) as Node | undefined)
    if (node?.range) return at(node.range[0])
  }
  return { line: 1, col: 1 }
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.col - b.col)
}
