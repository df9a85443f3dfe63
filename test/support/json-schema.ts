/**
 * Checks a value against a JSON Schema of an OpenAPI 3.1 document: the keywords gatehouse's
 * document uses (type, properties, required, additionalProperties, items, enum, const, anyOf,
 * allOf, oneOf, $ref, minimum/maximum), enough to tell a response from what the document says.
 * Returns the mismatches, each with its JSON path; none means the value fits.
 */
export type Schema = Record<string, unknown>

export function schemaErrors(value: unknown, schema: Schema, root: Schema, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], root) as Schema | undefined
    if (!target) return [`${path}: unresolved ${schema.$ref}`]
    const rest = Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$ref'))
    return [...schemaErrors(value, target, root, path), ...schemaErrors(value, rest, root, path)]
  }
  const errors: string[] = []
  const types = schema.type === undefined ? undefined : ([] as unknown[]).concat(schema.type)
  if (types && !types.some((t) => fitsType(value, t as string))) return [`${path}: ${JSON.stringify(value)} is not ${types.join(' | ')}`]
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => e === value)) errors.push(`${path}: ${JSON.stringify(value)} not in enum`)
  if ('const' in schema && schema.const !== value) errors.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`)
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`)
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`)
  }
  if (Array.isArray(schema.allOf)) for (const part of schema.allOf as Schema[]) errors.push(...schemaErrors(value, part, root, path))
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key] as Schema[] | undefined
    if (!options) continue
    const fits = options.filter((option) => schemaErrors(value, option, root, path).length === 0).length
    if (key === 'anyOf' ? fits === 0 : fits !== 1) errors.push(`${path}: fits ${fits} of ${key}'s ${options.length} schemas`)
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => errors.push(...schemaErrors(item, schema.items as Schema, root, `${path}[${i}]`)))
  }
  if (isObject(value)) {
    const properties = (schema.properties ?? {}) as Record<string, Schema>
    for (const name of (schema.required ?? []) as string[]) if (!(name in value)) errors.push(`${path}.${name}: required, missing`)
    for (const [name, field] of Object.entries(value)) {
      if (properties[name]) errors.push(...schemaErrors(field, properties[name], root, `${path}.${name}`))
      else if (schema.additionalProperties === false) errors.push(`${path}.${name}: not in the schema`)
      else if (isObject(schema.additionalProperties))
        errors.push(...schemaErrors(field, schema.additionalProperties, root, `${path}.${name}`))
    }
  }
  return errors
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function fitsType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null
    case 'array':
      return Array.isArray(value)
    case 'object':
      return isObject(value)
    case 'integer':
      return Number.isInteger(value)
    case 'number':
      return typeof value === 'number'
    default:
      return typeof value === type
  }
}
