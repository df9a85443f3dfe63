import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { loadConfig, parseConfig } from '../../src/config/index.ts'

// The shipped deployment files must stay valid configs: they are the product's front door.
const ENV = {
  GATEHOUSE_UPSTREAM: 'http://upstream:3000',
  GATEHOUSE_ADMIN_KEY: 'an-admin-key-of-enough-length',
  GATEHOUSE_STORE_URL: 'postgres://postgres@postgres:5432/gatehouse',
  GATEHOUSE_REDIS_URL: 'redis://redis:6379',
}

describe('deployment files', () => {
  it('deploy/gatehouse.compose.yaml is a valid config using PostgreSQL and Redis', () => {
    const { config } = loadConfig('deploy/gatehouse.compose.yaml', ENV)
    assert.match(config.store.url, /^postgres:/)
    assert.equal(config.redis?.url, 'redis://redis:6379')
  })

  it('the Kubernetes ConfigMap carries a valid config', () => {
    const docs = parseAllDocuments(readFileSync('deploy/k8s/gatehouse-sidecar.yaml', 'utf8')).map(
      (d) => d.toJS() as Record<string, unknown>,
    )
    const configMap = docs.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> }
    const { config } = parseConfig(configMap.data['gatehouse.yaml']!, 'configmap', ENV)
    assert.equal(config.upstream.url.href, 'http://127.0.0.1:3000/')
    const deployment = docs.find((d) => d.kind === 'Deployment') as {
      spec: { template: { spec: { containers: { name: string; readinessProbe?: unknown }[] } } }
    }
    assert.ok(deployment.spec.template.spec.containers.find((c) => c.name === 'gatehouse')?.readinessProbe)
  })
})

// .dockerignore semantics: each pattern is matched against a path and every folder above it
// (an excluded folder takes its contents with it); `**` spans any number of folders, `*` and `?`
// stay within one.
function dockerIgnored(patterns: string[]): (path: string) => boolean {
  const regexes = patterns.map((pattern) => {
    const source = pattern
      .replace(/\/$/, '')
      .split(/(\*\*\/|\*|\?)/)
      .map((part) =>
        part === '**/' ? '(?:.*/)?' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
      )
      .join('')
    return new RegExp(`^${source}$`)
  })
  return (path) => {
    const parts = path.split('/')
    return parts.some((_, i) => regexes.some((r) => r.test(parts.slice(0, i + 1).join('/'))))
  }
}

describe('.dockerignore', () => {
  const patterns = readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
  const ignored = dockerIgnored(patterns)

  it('keeps secrets, state and build output out of the build context, at any depth', () => {
    const secret = [
      'node_modules/hono/package.json',
      'examples/hono-upstream/node_modules/x.js',
      '.git/config',
      'data/gatehouse.db',
      'gatehouse.db',
      'gatehouse.db-wal',
      'deploy/gatehouse.db-shm',
      'gatehouse-keys.json',
      'var/lib/gatehouse/gatehouse-keys.json',
      'tls/server.pem',
      'server.key',
      '.env',
      '.env.production',
      'dist/cli.js',
      'bench/results/latest.json',
    ]
    for (const path of secret) assert.ok(ignored(path), `${path} is sent to the Docker daemon`)
  })

  it('keeps every file the Dockerfile copies from the context', () => {
    const sources = readFileSync('Dockerfile', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
      .flatMap((line) => line.split(/\s+/).slice(1, -1))
    assert.ok(sources.includes('src') && sources.includes('package-lock.json'), sources.join(' '))
    const files = sources.flatMap((source) =>
      source === 'src' || source === 'bin'
        ? readdirSync(source, { recursive: true, withFileTypes: true })
            .filter((entry) => entry.isFile())
            .map((entry) => join(entry.parentPath, entry.name))
        : [source],
    )
    assert.ok(files.length > 50, `${files.length} files`)
    for (const file of files) assert.ok(!ignored(file), `${file} is copied by the Dockerfile but excluded by .dockerignore`)
  })
})
