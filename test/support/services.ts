import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import type { AddressInfo } from 'node:net'

/**
 * The real services a suite needs (README, Development): with the URL unset the suite is skipped
 * with a printed reason, unless GATEHOUSE_REQUIRE_SERVICES=1, where a missing service fails.
 */
export function serviceUrl(name: 'POSTGRES' | 'REDIS'): { url?: string; skip?: string } {
  const url = process.env[`GATEHOUSE_TEST_${name}_URL`]
  if (url) return { url }
  const reason = `GATEHOUSE_TEST_${name}_URL is not set`
  if (process.env.GATEHOUSE_REQUIRE_SERVICES === '1') throw new Error(`${reason}, and GATEHOUSE_REQUIRE_SERVICES=1 requires it`)
  console.log(`# skipped: ${reason}`)
  return { skip: reason }
}

/**
 * A program a suite drives (an ingress, the browser), or why the suite cannot run: printed as a
 * skip, or (GATEHOUSE_REQUIRE_SERVICES=1) registered as a failing test, as for the other real services.
 */
export function installedBinary(name: string, file: string, debianPackage: string = name): { file?: string; skip?: string } {
  if (existsSync(file)) return { file }
  const reason = `${file} is not installed (apt-get install ${debianPackage})`
  if (process.env.GATEHOUSE_REQUIRE_SERVICES === '1') test(`${name} is installed (GATEHOUSE_REQUIRE_SERVICES=1)`, () => assert.fail(reason))
  else console.log(`# skipping the ${name} suite: ${reason}`)
  return { skip: reason }
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A redis-server of the test's own, on a free port, that the test may stop and start again. */
export async function startRedisServer(port?: number): Promise<{ port: number; url: string; stop(): Promise<void> }> {
  const chosen = port ?? (await freePort())
  const child: ChildProcess = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  })
  for (let i = 0; i < 100; i++) {
    if (await canConnect(chosen)) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGKILL')
      }),
  }
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Whether the Redis of GATEHOUSE_TEST_REDIS_URL answers: undefined when it does, else why a
 * suite cannot run — printed as a skip, or (GATEHOUSE_REQUIRE_SERVICES=1) registered as a failing test.
 */
export async function redisUnavailable(what: string): Promise<string | undefined> {
  const url = process.env.GATEHOUSE_TEST_REDIS_URL
  let reason: string | undefined
  if (!url) reason = 'GATEHOUSE_TEST_REDIS_URL is not set'
  else {
    const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
    try {
      await probe.connect()
      await probe.ping()
    } catch (err) {
      reason = `Redis at ${url} is unreachable: ${(err as Error).message}`
    } finally {
      probe.disconnect()
    }
  }
  if (reason) {
    if (process.env.GATEHOUSE_REQUIRE_SERVICES === '1') test('Redis is available (GATEHOUSE_REQUIRE_SERVICES=1)', () => assert.fail(reason))
    else console.log(`# skipping ${what}: ${reason}`)
  }
  return reason
}
