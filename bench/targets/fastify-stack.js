// Child process: what a Node team writes by hand instead of gatehouse — fastify, @fastify/jwt
// checking the same ES256 tokens, @fastify/http-proxy. Plain JavaScript, run by `node` alone.
// Arguments: UPSTREAM_URL ISSUER cache|nocache PUBLIC_KEY_PEM_FILE.
import { readFileSync } from 'node:fs'
import proxy from '@fastify/http-proxy'
import jwt from '@fastify/jwt'
import Fastify from 'fastify'
import { announce } from './announce.js'

const [upstream = '', issuer = '', cacheMode = '', publicKeyFile = ''] = process.argv.slice(2)

const app = Fastify({ logger: false })
await app.register(jwt, {
  secret: { public: readFileSync(publicKeyFile, 'utf8') },
  // The checks gatehouse makes too: pinned algorithm, issuer, expiry (fast-jwt checks exp by default).
  // `cache: true` is fast-jwt's LRU of 1,000 verified tokens (keyed by a hash of the token).
  verify: { algorithms: ['ES256'], allowedIss: issuer, cache: cacheMode === 'cache' },
})
app.addHook('onRequest', async (request) => {
  await request.jwtVerify()
})
await app.register(proxy, { upstream })
await app.listen({ host: '127.0.0.1', port: 0 })
announce(app.server)
