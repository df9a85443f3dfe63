/** One thing wrong with a config file, located in the file. */
export type ConfigProblem = {
  line: number
  col: number
  /** Dotted key path, e.g. `routes[3].min_role`; empty for the document itself. */
  path: string
  message: string
}

/** Thrown by loadConfig; its message has one `FILE:LINE:COL key.path: message` line per problem. */
export class ConfigError extends Error {
  readonly file: string
  readonly problems: readonly ConfigProblem[]

  constructor(file: string, problems: readonly ConfigProblem[]) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'))
    this.name = 'ConfigError'
    this.file = file
    this.problems = problems
  }
}

function formatProblem(file: string, p: ConfigProblem): string {
  return `${file}:${p.line}:${p.col} ${p.path ? `${p.path}: ` : ''}${p.message}`
}

export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += out ? `.${String(key)}` : String(key)
  }
  return out
}
