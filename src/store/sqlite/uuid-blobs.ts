import type { KyselyPlugin, OperationNode, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';

/** The columns that hold a UUID: a cycle's Idempotency-Key and each attempt's X-Request-Id. */
const UUID_COLUMNS = new Set(['idempotency_key', 'request_id']);
const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A canonical (lowercase) UUID as its 16 bytes; any other value as it is. */
export function uuidToBytes(value: unknown): unknown {
  if (typeof value !== 'string' || !CANONICAL.test(value)) return value;
  const hex = value.replaceAll('-', '');
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** 16 bytes as the canonical UUID they encode; any other value as it is. */
export function bytesToUuid(value: unknown): unknown {
  if (!(value instanceof Uint8Array) || value.byteLength !== 16) return value;
  const hex = Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

type Node = OperationNode & { readonly [key: string]: unknown };

/**
 * SQLite keeps the two UUID columns as 16-byte blobs instead of 36 characters of text: as text, a cycle's two UUIDs
 * were a fifth of its history (issue #3: a year well under 200 MB). Inserted UUIDs are packed, read ones unpacked, so
 * everything above the database (the store, reports, tests) sees the UUID strings it wrote; any other value (an
 * older or hand-written row) is kept as it is. Only inserts carry these ids: nothing updates or filters on them.
 * In the `sqlite3` shell: `SELECT lower(hex(idempotency_key)) FROM cycles`.
 */
export class UuidBlobPlugin implements KyselyPlugin {
  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    if (node.kind !== 'InsertQueryNode' || node.columns === undefined || node.values?.kind !== 'ValuesNode') return node;
    const at = node.columns.map((c) => UUID_COLUMNS.has(c.column.name));
    if (!at.includes(true)) return node;
    const rows = (node.values as Node & { values: readonly Node[] }).values.map((row) => {
      const items = row.values as readonly unknown[];
      if (row.kind === 'PrimitiveValueListNode') return { ...row, values: items.map((v, i) => (at[i] ? uuidToBytes(v) : v)) };
      // A ValueListNode: its items are nodes, a plain value in a ValueNode.
      return { ...row, values: (items as Node[]).map((v, i) => (at[i] && v.kind === 'ValueNode' ? { ...v, value: uuidToBytes(v.value) } : v)) };
    });
    return { ...node, values: { ...node.values, values: rows } as OperationNode };
  }

  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    for (const row of result.rows) {
      for (const key of UUID_COLUMNS) if (key in row) row[key] = bytesToUuid(row[key]);
    }
    return result;
  }
}
