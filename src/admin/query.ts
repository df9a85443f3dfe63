import { z } from '@hono/zod-openapi'
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import { badRequest } from './errors.ts'

/**
 * Makes every route registered on `app` from now on refuse a query string it does not declare:
 * an undeclared parameter, or a declared one given twice (each declared parameter takes one
 * value), is a 400 naming it. A silently ignored `limit=2` or misspelt filter would answer with
 * far more than was asked for (every API key instead of one user's), which is worse than an error.
 */
export function refuseUndeclaredQueries(app: OpenAPIHono): void {
  const register = app.openapi
  app.openapi = ((route: RouteConfig, ...rest: unknown[]) =>
    (register as (...args: unknown[]) => unknown)(
      { ...route, middleware: [checkQuery(declaredQuery(route)), ...toArray(route.middleware)] },
      ...rest,
    )) as typeof app.openapi
}

function declaredQuery(route: RouteConfig): ReadonlySet<string> {
  const query = route.request?.query
  if (query === undefined) return new Set()
  if (!(query instanceof z.ZodObject)) throw new Error(`${route.method} ${route.path}: a query schema must be an object`)
  return new Set(Object.keys(query.shape))
}

function checkQuery(declared: ReadonlySet<string>): MiddlewareHandler {
  return async (c, next) => {
    const errors = Object.entries(c.req.queries()).flatMap(([name, values]) =>
      !declared.has(name)
        ? [{ field: name, message: 'unknown query parameter' }]
        : values.length > 1
          ? [{ field: name, message: `given ${values.length} times; send it once` }]
          : [],
    )
    if (errors.length > 0) throw badRequest(errors)
    await next()
  }
}

function toArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}
