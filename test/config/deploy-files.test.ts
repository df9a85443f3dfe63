import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
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
