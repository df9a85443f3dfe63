import type { ColumnTypes, DbBool } from './schema.ts'

/**
 * The little an engine-neutral store needs to know about one SQL engine. Everything else — the
 * schema, the migrations and every query — is shared, so a new engine is a connection plus this.
 */
export interface EngineAdapter {
  /** SQL types of the columns whose kind differs by engine. */
  readonly types: ColumnTypes
  /** A boolean as the engine binds it (better-sqlite3 cannot bind JavaScript booleans). */
  toBool(value: boolean): DbBool
  /**
   * The columns of the unique key (or primary key) a failed write violated, read from the
   * engine's own error; undefined for any other error.
   */
  uniqueViolation(error: unknown): readonly string[] | undefined
}
