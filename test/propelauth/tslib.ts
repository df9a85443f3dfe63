import Module from 'node:module'

/**
 * @propelauth/node 2.1.36's build requires `tslib` without declaring it as a dependency, and the
 * package is not installed here. Until it is a devDependency, `require('tslib')` resolves to this
 * file, which provides the two helpers the SDK's build calls, with tslib's semantics. Import it
 * before the SDK. It changes nothing about the SDK's requests.
 */

type Generator = { next(value?: unknown): IteratorResult<unknown>; throw(error: unknown): IteratorResult<unknown> }

export function __awaiter(
  thisArg: unknown,
  args: unknown[] | undefined,
  P: PromiseConstructor | undefined,
  body: (...a: unknown[]) => Generator,
) {
  const Ctor = P ?? Promise
  return new Ctor((resolve, reject) => {
    const generator = body.apply(thisArg, args ?? [])
    const step = (result: IteratorResult<unknown>) => {
      if (result.done) return resolve(result.value)
      Ctor.resolve(result.value).then(
        (value) => attempt(() => generator.next(value)),
        (error: unknown) => attempt(() => generator.throw(error)),
      )
    }
    const attempt = (advance: () => IteratorResult<unknown>) => {
      try {
        step(advance())
      } catch (error) {
        reject(error as Error)
      }
    }
    attempt(() => generator.next())
  })
}

export function __rest(source: Record<PropertyKey, unknown>, excluded: PropertyKey[]): Record<PropertyKey, unknown> {
  const rest: Record<PropertyKey, unknown> = {}
  for (const key of Reflect.ownKeys(source)) {
    if (!excluded.includes(key) && Object.prototype.propertyIsEnumerable.call(source, key)) rest[key] = source[key]
  }
  return rest
}

const resolver = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string }
const resolve = resolver._resolveFilename.bind(resolver)
const self = new URL(import.meta.url).pathname
resolver._resolveFilename = (request, ...rest) => (request === 'tslib' ? self : resolve(request, ...rest))
