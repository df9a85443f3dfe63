import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, spawnChild, waitForPort } from '../children.ts'
import { findSystemBinary } from './launch.ts'
import type { Target } from './launch.ts'

/** The nginx binary on PATH or in /usr/sbin (where `apt-get install nginx-light` puts it), if any. */
export function findNginx(): string | undefined {
  return findSystemBinary('nginx')
}

/** e.g. `nginx/1.22.1`; nginx prints it on stderr. */
export function nginxVersion(binary: string): string {
  const { stderr } = spawnSync(binary, ['-v'], { encoding: 'utf8' })
  return /nginx\/\S+/.exec(stderr)?.[0] ?? 'nginx (unknown version)'
}

/** One worker, no access log, every path under `dir`; `http` and `location` are the parts a target adds. */
function nginxShell(dir: string, port: number, parts: { http?: string; location: string }): string {
  const temp = (name: string) => join(dir, 'nginx-temp', name)
  return `daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
${parts.http ?? ''}  server {
    listen 127.0.0.1:${port};
    location / {
${parts.location}
    }
  }
}
`
}

/** A pure keep-alive reverse proxy. */
export function nginxConfig(dir: string, port: number, upstreamPort: number): string {
  return nginxShell(dir, port, {
    http: `  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
`,
    location: `      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";`,
  })
}

/**
 * nginx answering every request itself with an empty 200: what nginx spends on a request and its
 * answer alone, beside which a forward-auth decision (also an empty 200, after the decision) is set.
 */
export function nginxAnswerConfig(dir: string, port: number): string {
  return nginxShell(dir, port, { location: '      return 200;' })
}

/** Starts nginx with the config `configFor` writes for the port it gets. */
export async function startNginx(binary: string, dir: string, configFor: (port: number) => string, name = 'nginx'): Promise<Target> {
  const port = await freePort()
  mkdirSync(join(dir, 'nginx-temp'), { recursive: true })
  const configFile = join(dir, `${name}.conf`)
  writeFileSync(configFile, configFor(port))
  // -e: the log for errors before the config is read, which would otherwise go to /var/log/nginx.
  const child = spawnChild(name, binary, ['-p', dir, '-c', configFile, '-e', join(dir, 'nginx-error.log')], {
    dir,
  })
  try {
    await waitForPort(child, port)
    return { name: 'nginx', pid: child.pid, origin: `http://127.0.0.1:${port}`, exited: child.exited, stop: child.stop }
  } catch (error) {
    await child.stop()
    throw error
  }
}
