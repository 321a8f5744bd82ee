/**
 * Rows read back are not trusted: every JSON column is decoded with its zod schema, so a row
 * written by another version of edgefleet (or edited by hand) is reported where it is read,
 * with its table, column and key, instead of travelling on as a wrongly typed value.
 */
import { EdgefleetError } from '@edgefleet/shared';
import { z } from 'zod';

/** Where a stored value came from, for the error message. */
export interface ColumnRef {
  readonly table: string;
  readonly column: string;
  /** The row's key, e.g. a device id or `model/recipe`. */
  readonly key: string | number;
}

/** Parses JSON text and checks it against `schema`; throws EF_ERR_STORE_DECODE naming the column otherwise. */
export function decodeJson<S extends z.ZodType>(schema: S, text: string, at: ColumnRef): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err: unknown) {
    throw decodeError(at, 'is not JSON', err);
  }
  return decodeValue(schema, value, at);
}

/** Like {@link decodeJson} for a nullable column: SQL NULL is null. */
export function decodeNullableJson<S extends z.ZodType>(
  schema: S,
  text: string | null,
  at: ColumnRef,
): z.output<S> | null {
  return text === null ? null : decodeJson(schema, text, at);
}

/** Checks an already parsed value (e.g. a column a driver decodes itself) against `schema`. */
export function decodeValue<S extends z.ZodType>(schema: S, value: unknown, at: ColumnRef): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw decodeError(at, `does not match its schema: ${z.prettifyError(parsed.error)}`, null);
  return parsed.data;
}

function decodeError(at: ColumnRef, what: string, cause: unknown): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_STORE_DECODE',
    `${at.table}.${at.column} of ${JSON.stringify(at.key)} ${what}; the row was written by another edgefleet version ` +
      `or edited by hand: restore the data directory from a backup or remove the row`,
    { table: at.table, column: at.column, key: at.key },
    cause === null ? undefined : { cause },
  );
}
