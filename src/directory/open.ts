import { createRoleTable } from '../identity/index.ts'
import type { RoleTable } from '../identity/index.ts'
import type { LoadedConfig } from '../config/index.ts'
import { createLocalIssuer } from '../issuer/index.ts'
import type { LocalIssuer } from '../issuer/index.ts'
import type { ApiKeySettings } from './context.ts'
import { openStore } from '../store/index.ts'
import type { Store } from '../store/index.ts'

/** The identity backend of one config: its store, roles and local issuer. */
export type Directory = {
  store: Store
  roles: RoleTable
  localIssuer?: LocalIssuer
  /** The API-key settings of the config (prefixes). */
  apiKeys: ApiKeySettings
  close(): Promise<void>
}

export type OpenDirectoryOptions = {
  /** Where a fixed-up problem of the store's files is told (a store file readable by others). */
  warn: (message: string) => void
  /** What the directory uses instead of the store it opened (tests hold store calls with it). */
  wrapStore?: (store: Store) => Store
}

export async function openDirectory(loaded: LoadedConfig, options: OpenDirectoryOptions): Promise<Directory> {
  const { config, dir } = loaded
  const roles = createRoleTable(config.roles)
  const { url, ...limits } = config.store
  const opened = await openStore(url, dir, { warn: options.warn, ...limits })
  const store = options.wrapStore?.(opened) ?? opened
  try {
    const local = config.tokens.localIssuer
    const localIssuer = local ? await createLocalIssuer({ store, roles, issuer: local.issuer, algorithm: local.algorithm }) : undefined
    return {
      store,
      roles,
      localIssuer,
      apiKeys: { prefixes: config.apiKeys.prefixes },
      close: () => store.close(),
    }
  } catch (err) {
    await store.close()
    throw err
  }
}
