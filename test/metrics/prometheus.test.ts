import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { DenyReason } from '../../src/decide/index.ts'
import { aggregatedExpositionOf, createPrometheusMetrics, DECISION_REASONS, expositionOf, Registry } from '../../src/metrics/index.ts'
import type { CompiledRoute } from '../../src/rules/index.ts'
import { parseExposition } from '../support/prometheus.ts'

// Every deny reason has its series from the start: a reason added to DenyReason and not here fails to compile.
const everyReason: Record<DenyReason | 'allowed', true> = Object.fromEntries(DECISION_REASONS.map((r) => [r, true])) as Record<
  (typeof DECISION_REASONS)[number],
  true
>
void everyReason

const route = (pattern: string) => ({ pattern }) as CompiledRoute

describe('the Prometheus recorder', () => {
  it('counts between scrapes without counting anything twice', async () => {
    const registry = new Registry()
    const metrics = createPrometheusMetrics(registry)
    const exposition = expositionOf(registry)
    const users = route('/users/:id')
    metrics.request(users, 'GET', 200, 0.002)
    metrics.request(users, 'GET', 200, 0.003)
    metrics.request(users, 'MKCOL', 405, 0.001)
    let scrape = parseExposition(await exposition.scrape())
    assert.equal(scrape.value('gatehouse_requests_total', { route: '/users/:id', method: 'GET', status: '200' }), 2)
    assert.equal(scrape.value('gatehouse_requests_total', { route: '/users/:id', method: 'other', status: '405' }), 1)
    assert.equal(scrape.value('gatehouse_request_duration_seconds_bucket', { route: '/users/:id', le: '0.001' }), 1)
    assert.equal(scrape.value('gatehouse_request_duration_seconds_bucket', { route: '/users/:id', le: '0.005' }), 3)
    metrics.request(users, 'GET', 200, 0.002)
    scrape = parseExposition(await exposition.scrape())
    assert.equal(scrape.value('gatehouse_requests_total', { route: '/users/:id', method: 'GET', status: '200' }), 3)
    scrape = parseExposition(await exposition.scrape())
    assert.equal(scrape.value('gatehouse_requests_total', { route: '/users/:id', method: 'GET', status: '200' }), 3)
  })

  it('exposes a latency histogram in the Prometheus format: cumulative buckets by le, +Inf, sum and count', async () => {
    const registry = new Registry()
    const metrics = createPrometheusMetrics(registry)
    const users = route('/users/:id')
    // On a bound counts in that bucket (le is "less than or equal"); above the last, only in +Inf.
    for (const seconds of [0.001, 0.004, 0.03, 11]) metrics.upstream(users, seconds, undefined)
    const scrape = parseExposition(await registry.metrics())
    assert.equal(scrape.families.get('gatehouse_upstream_duration_seconds'), 'histogram')
    const buckets = scrape.samples
      .filter((s) => s.name === 'gatehouse_upstream_duration_seconds_bucket' && s.labels.route === '/users/:id')
      .map((s) => [s.labels.le, s.value])
    assert.deepEqual(buckets, [
      ['0.001', 1],
      ['0.005', 2],
      ['0.025', 2],
      ['0.1', 3],
      ['0.5', 3],
      ['2.5', 3],
      ['10', 3],
      ['+Inf', 4],
    ])
    assert.equal(scrape.value('gatehouse_upstream_duration_seconds_count', { route: '/users/:id' }), 4)
    assert.ok(Math.abs(scrape.value('gatehouse_upstream_duration_seconds_sum', { route: '/users/:id' })! - 11.035) < 1e-9)
    // The whole request was never timed for this route, so it has no series yet.
    assert.equal(scrape.value('gatehouse_request_duration_seconds_count', { route: '/users/:id' }), undefined)
  })

  it("sums histograms over processes as a workers' scrape does", async () => {
    const processes = [new Registry(), new Registry()]
    const [primary, worker] = processes.map((registry) => ({ registry, metrics: createPrometheusMetrics(registry) }))
    primary!.metrics.request(route('/a'), 'GET', 200, 0.002)
    worker!.metrics.request(route('/a'), 'GET', 200, 0.02)
    worker!.metrics.request(route('/a'), 'GET', 200, 0.2)
    const exposition = aggregatedExpositionOf(primary!.registry, async () => [await worker!.registry.getMetricsAsJSON()])
    const scrape = parseExposition(await exposition.scrape())
    assert.equal(scrape.value('gatehouse_request_duration_seconds_bucket', { route: '/a', le: '0.005' }), 1)
    assert.equal(scrape.value('gatehouse_request_duration_seconds_bucket', { route: '/a', le: '0.025' }), 2)
    assert.equal(scrape.value('gatehouse_request_duration_seconds_bucket', { route: '/a', le: '+Inf' }), 3)
    assert.equal(scrape.value('gatehouse_request_duration_seconds_count', { route: '/a' }), 3)
    assert.equal(scrape.value('gatehouse_requests_total', { route: '/a', method: 'GET', status: '200' }), 3)
  })

  it('routes sharing a pattern share series, and a request without a route is `none`', async () => {
    const registry = new Registry()
    const metrics = createPrometheusMetrics(registry)
    metrics.request(route('/a/*'), 'POST', 201, 0.01)
    metrics.request(route('/a/*'), 'POST', 201, 0.01)
    metrics.request(undefined, 'GET', 404, 0.001)
    const scrape = parseExposition(await registry.metrics())
    assert.equal(scrape.value('gatehouse_requests_total', { route: '/a/*', method: 'POST', status: '201' }), 2)
    assert.equal(scrape.value('gatehouse_requests_total', { route: 'none', method: 'GET', status: '404' }), 1)
  })

  it('counts a deny reason it does not list under its own code', async () => {
    const registry = new Registry()
    const metrics = createPrometheusMetrics(registry)
    metrics.decision('allowed')
    metrics.decision('rate_limited')
    metrics.decision('some_future_reason')
    const scrape = parseExposition(await registry.metrics())
    assert.equal(scrape.value('gatehouse_decisions_total', { outcome: 'allowed', reason: 'none' }), 1)
    assert.equal(scrape.value('gatehouse_decisions_total', { outcome: 'denied', reason: 'rate_limited' }), 1)
    assert.equal(scrape.value('gatehouse_decisions_total', { outcome: 'denied', reason: 'some_future_reason' }), 1)
    assert.equal(scrape.value('gatehouse_decisions_total', { outcome: 'denied', reason: 'forbidden' }), 0)
  })

  it('recordReload counts gatehouse_config_reloads_total by result; the tunnel gauge reads its sources at scrape', async () => {
    const registry = new Registry()
    const metrics = createPrometheusMetrics(registry)
    let open = 2
    metrics.openTunnels(() => open)
    metrics.recordReload('success')
    metrics.recordReload('failure')
    metrics.recordReload('failure')
    let scrape = parseExposition(await registry.metrics())
    assert.equal(scrape.value('gatehouse_config_reloads_total', { result: 'success' }), 1)
    assert.equal(scrape.value('gatehouse_config_reloads_total', { result: 'failure' }), 2)
    assert.equal(scrape.value('gatehouse_websocket_tunnels_open'), 2)
    open = 0
    scrape = parseExposition(await registry.metrics())
    assert.equal(scrape.value('gatehouse_websocket_tunnels_open'), 0)
  })

  it('registers nothing on prom-client’s global registry', async () => {
    const { register } = await import('prom-client')
    createPrometheusMetrics(new Registry())
    assert.equal(register.getSingleMetric('gatehouse_requests_total'), undefined)
  })
})
