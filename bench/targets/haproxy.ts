import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, spawnChild, waitForPort } from '../children.ts'
import { findSystemBinary } from './launch.ts'
import type { Target } from './launch.ts'

/** The haproxy binary on PATH or in /usr/sbin (where `apt-get install haproxy` puts it), if any. */
export function findHaproxy(): string | undefined {
  return findSystemBinary('haproxy')
}

/** e.g. `HAProxy 2.6.12-1+deb12u4`, from the first line of `haproxy -v`. */
export function haproxyVersion(binary: string): string {
  const { stdout } = spawnSync(binary, ['-v'], { encoding: 'utf8' })
  const version = /HAProxy version (\S+)/.exec(stdout)?.[1]
  return version ? `HAProxy ${version}` : 'HAProxy (unknown version)'
}

export type HaproxyOptions = { port: number; upstreamPort: number }
/** What haproxy-jwt checks a token against. */
export type HaproxyJwtChecks = { issuer: string; publicKeyFile: string }

/**
 * HAProxy as the JWT-checking proxy a performance-minded team would deploy instead: one thread
 * (as nginx runs one worker and gatehouse one process), a keep-alive upstream, and on every
 * request the checks gatehouse makes of a token — a Bearer token, its alg pinned to ES256 before
 * the signature is checked against the issuer's public key (no alg confusion), the issuer, and an
 * exp still ahead. Anything else is refused with 401. HAProxy has no verified-token cache, so
 * every request verifies a signature: the peer of gatehouse's jwt-cold. Without `jwt`, the same
 * proxy with no check at all: the difference of the two is what HAProxy's token check costs.
 */
export function haproxyConfig(o: HaproxyOptions, jwt?: HaproxyJwtChecks): string {
  const checks = jwt
    ? `  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny deny_status 401 unless { var(txn.alg) -m str ES256 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"${jwt.publicKeyFile}") -m int 1 }
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('$.iss')
  http-request deny deny_status 401 unless { var(txn.iss) -m str ${jwt.issuer} }
  http-request set-var(txn.now) date()
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request deny deny_status 401 unless { var(txn.exp),sub(txn.now) -m int gt 0 }
`
    : ''
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend bench
  bind 127.0.0.1:${o.port}
${checks}  default_backend app
backend app
  server upstream 127.0.0.1:${o.upstreamPort}
`
}

/**
 * Starts HAProxy in the foreground (`-db`) on a port it is handed: `haproxy-jwt` with the token
 * checks when `jwt` is given, plain `haproxy` otherwise.
 */
export async function startHaproxy(binary: string, dir: string, upstreamPort: number, jwt?: HaproxyJwtChecks): Promise<Target> {
  const name = jwt ? 'haproxy-jwt' : 'haproxy'
  const port = await freePort()
  const configFile = join(dir, `${name}.cfg`)
  writeFileSync(configFile, haproxyConfig({ port, upstreamPort }, jwt))
  const child = spawnChild(name, binary, ['-db', '-f', configFile], { dir })
  try {
    await waitForPort(child, port)
    return { name, pid: child.pid, origin: `http://127.0.0.1:${port}`, exited: child.exited, stop: child.stop }
  } catch (error) {
    await child.stop()
    throw error
  }
}
