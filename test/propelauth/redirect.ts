/**
 * Sends the current PropelAuth SDK's backend calls, which go to its fixed host
 * (https://propelauth-api.com, with X-Propelauth-url naming the auth URL), to a gatehouse admin
 * listener instead: the process's global fetch dispatcher is wrapped so that only the origin of
 * those requests changes. Method, path, query, headers and body go out as the SDK wrote them.
 */

const PROPELAUTH_HOST = 'https://propelauth-api.com'
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1')

type Dispatcher = { dispatch(options: { origin?: unknown }, handler: unknown): boolean }
type Global = Record<symbol, Dispatcher | undefined>

export async function redirectPropelAuthHost(to: string): Promise<() => void> {
  // Node's fetch creates its dispatcher on first use.
  await fetch(`${to}/healthz`).then((r) => r.arrayBuffer())
  const global = globalThis as unknown as Global
  const original = global[GLOBAL_DISPATCHER]!
  global[GLOBAL_DISPATCHER] = new Proxy(original, {
    get(target, property) {
      if (property === 'dispatch') {
        return (options: { origin?: unknown }, handler: unknown) =>
          target.dispatch(String(options.origin).startsWith(PROPELAUTH_HOST) ? { ...options, origin: to } : options, handler)
      }
      const value = Reflect.get(target, property, target) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
  return () => {
    global[GLOBAL_DISPATCHER] = original
  }
}
