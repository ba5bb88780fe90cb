/**
 * Requests that do not decode are the caller's mistake: they get INVALID_ARGUMENT naming
 * the message and the field, not grpc-js's INTERNAL "Error deserializing request" (which
 * names nothing and counts as a server error).
 *
 * grpc-js answers INTERNAL whenever a method's requestDeserialize throws, whatever the
 * error carries (server-interceptors.js, decompressAndMaybePush). So `startServer` wraps
 * every method's requestDeserialize (`guardRequestDecoding`): when the generated decoder
 * throws, the wrapper returns an `UndecodableRequest` carrying the explanation, and
 * `undecodableRequestInterceptor` answers the call with INVALID_ARGUMENT instead of
 * passing it on. A unary or server-streaming handler never runs; a client- or
 * bidi-streaming handler (grpc-js starts those at the call's metadata) sees its call
 * cancelled after the messages before the bad one, as for any status sent under it.
 *
 * The explanation comes from walking the wire bytes against the request's descriptor,
 * read from the same .proto files (proto-loader), the way ts-proto's decoder reads them:
 * the first 64-bit integer outside +-(2^53-1) (forceLong=number: ts-proto's longToNumber
 * throws on those; fields with [jstype = JS_STRING] are strings and take every value)
 * or the first malformed piece, with its field path, e.g.
 *   tunedlens.activation.v1.ExtractRequest.batch.input_ids.shape[1]: 9223372036854775807
 *   is larger than 2^53-1, the largest this service accepts
 * Only a failed decode pays for this; a request that decodes costs a try/catch.
 */
import {
  Metadata, ServerInterceptingCall, status,
  type ServerInterceptor, type ServiceDefinition,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { protoPath, protoRoot } from '@tuned-lens/proto';

/** What a guarded requestDeserialize returns for bytes the generated decoder refused. */
export class UndecodableRequest {
  constructor(readonly details: string) {}
}

type Int64Kind = 'int64' | 'uint64' | 'sint64' | 'fixed64' | 'sfixed64';
interface FieldInfo {
  name: string;
  repeated: boolean;
  /** Set when ts-proto reads this field as a number (64-bit, not JS_STRING). */
  int64?: Int64Kind;
  /** Fully qualified message type of a message field. */
  message?: string;
}
interface MessageInfo {
  fields: Map<number, FieldInfo>;
}

/** The part of proto-loader's DescriptorProto objects read here. */
interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
  options?: { jstype?: string } | null;
}
interface MessageDescriptor { field?: FieldDescriptor[] }
interface MethodDescriptor { path: string; requestType: { type: { name: string } } }

const INT64_TYPES: Record<string, Int64Kind> = {
  TYPE_INT64: 'int64', TYPE_UINT64: 'uint64', TYPE_SINT64: 'sint64', TYPE_FIXED64: 'fixed64', TYPE_SFIXED64: 'sfixed64',
};
const MESSAGE_FORMAT = 'Protocol Buffer 3 DescriptorProto';

/** Protobuf name resolution: `name` as seen from inside `scope` (a fully qualified name). */
function resolveName(name: string, scope: string, known: (fq: string) => boolean): string | undefined {
  if (name.startsWith('.')) return known(name.slice(1)) ? name.slice(1) : undefined;
  const parts = scope.split('.');
  for (let n = parts.length; n >= 0; n--) {
    const fq = [...parts.slice(0, n), name].join('.');
    if (known(fq)) return fq;
  }
  return undefined;
}

/** Message layouts and request types of the services, from their .proto files. */
export class RequestSchema {
  private constructor(
    private readonly messages: Map<string, MessageInfo>,
    private readonly requestTypes: Map<string, string>,
  ) {}

  static fromPackageDefinition(pd: PackageDefinition): RequestSchema {
    const entries = Object.entries(pd) as Array<[string, { format?: string; type?: unknown }]>;
    const known = (fq: string) => fq in pd;
    const messages = new Map<string, MessageInfo>();
    for (const [fq, def] of entries) {
      if (def.format !== MESSAGE_FORMAT) continue;
      const fields = new Map<number, FieldInfo>();
      for (const f of (def.type as MessageDescriptor).field ?? []) {
        const info: FieldInfo = { name: f.name, repeated: f.label === 'LABEL_REPEATED' };
        if (f.type in INT64_TYPES && f.options?.jstype !== 'JS_STRING') info.int64 = INT64_TYPES[f.type];
        if (f.type === 'TYPE_MESSAGE') info.message = resolveName(f.typeName, fq, known);
        fields.set(f.number, info);
      }
      messages.set(fq, { fields });
    }
    const requestTypes = new Map<string, string>();
    for (const [fq, def] of entries) {
      if (def.format !== undefined) continue;
      for (const m of Object.values(def as Record<string, MethodDescriptor>)) {
        const short = m.requestType.type.name;
        // proto-loader keeps only the short name: look in the service's scope first, then
        // anywhere, if unambiguous (a request type imported from another package).
        const elsewhere = [...messages.keys()].filter((n) => n.endsWith(`.${short}`));
        const found = resolveName(short, fq, (n) => messages.has(n)) ?? (elsewhere.length === 1 ? elsewhere[0] : undefined);
        if (found) requestTypes.set(m.path, found);
      }
    }
    return new RequestSchema(messages, requestTypes);
  }

  /** The schema of `files` (relative to the proto root), loaded once per process. */
  static load(files: readonly string[]): RequestSchema {
    const key = [...new Set(files)].sort().join('\n');
    let schema = loaded.get(key);
    if (!schema) {
      schema = RequestSchema.fromPackageDefinition(loadSync([...new Set(files)].map(protoPath), { includeDirs: [protoRoot], keepCase: true }));
      loaded.set(key, schema);
    }
    return schema;
  }

  /** Fully qualified request message of a method ("/pkg.Service/Method"). */
  requestType(path: string): string | undefined {
    return this.requestTypes.get(path);
  }

  message(name: string): MessageInfo | undefined {
    return this.messages.get(name);
  }

  /**
   * Why the generated decoder refused `bytes` as a `typeName`: the field and value, or
   * the malformed piece; `cause` (the decoder's own error) when the walk finds nothing.
   */
  explain(typeName: string, bytes: Uint8Array, cause: unknown): string {
    const why = cause instanceof Error ? cause.message : String(cause);
    const msg = this.messages.get(typeName);
    if (!msg) return `could not decode ${typeName}: ${why}`;
    const found = walk(this, msg, bytes, 0, bytes.length, '');
    if (typeof found === 'number') return `could not decode ${typeName}: ${why}`;
    return found.range
      ? `${typeName}.${found.path}: ${found.text}`
      : `could not decode ${typeName}: ${found.path ? `${found.path}: ` : ''}${found.text} (at byte ${found.at})`;
  }
}
const loaded = new Map<string, RequestSchema>();

interface Problem { path: string; text: string; at: number; range: boolean }

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const nBytes = (n: number) => `${n} byte${n === 1 ? '' : 's'}`;
const join = (path: string, name: string) => (path ? `${path}.${name}` : name);

/** A varint as ts-proto's reader takes it (at most 10 bytes, modulo 2^64), or undefined if cut short. */
function readVarint(buf: Uint8Array, pos: number, end: number): [bigint, number] | undefined {
  let value = 0n;
  for (let i = 0; i < 10 && pos < end; i++) {
    const b = buf[pos++];
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return [BigInt.asUintN(64, value), pos];
  }
  return undefined;
}

function readFixed64(buf: Uint8Array, pos: number): bigint {
  let value = 0n;
  for (let i = 7; i >= 0; i--) value = (value << 8n) | BigInt(buf[pos + i]);
  return value;
}

/** The value ts-proto would hand to longToNumber, from the raw 64 bits. */
function asValue(raw: bigint, kind: Int64Kind): bigint {
  switch (kind) {
    case 'int64': case 'sfixed64': return BigInt.asIntN(64, raw);
    case 'sint64': return (raw >> 1n) ^ -(raw & 1n);
    default: return raw;
  }
}

function rangeProblem(value: bigint, path: string, at: number): Problem | undefined {
  if (value > MAX_SAFE) return { path, at, range: true, text: `${value} is larger than 2^53-1, the largest this service accepts` };
  if (value < -MAX_SAFE) return { path, at, range: true, text: `${value} is smaller than -(2^53-1), the smallest this service accepts` };
  return undefined;
}

/**
 * Reads one message in [start, end) as ts-proto's generated decode does (a nested message
 * continues on the same reader, a zero or end-group tag stops the message), and returns
 * the first problem, or the position where the message stopped.
 */
function walk(schema: RequestSchema, msg: MessageInfo | undefined, buf: Uint8Array, start: number, end: number, path: string): Problem | number {
  const counts = new Map<number, number>();
  const malformed = (p: string, text: string, at: number): Problem => ({ path: p, text, at, range: false });
  let pos = start;
  while (pos < end) {
    const at = pos;
    const tag = readVarint(buf, pos, end);
    if (!tag) return malformed(path, 'a field tag is cut short', at);
    pos = tag[1];
    const tag32 = BigInt.asUintN(32, tag[0]);
    if (tag32 === 0n) return pos;
    const fieldNo = Number(tag32 >> 3n);
    const wire = Number(tag32 & 7n);
    const f = msg?.fields.get(fieldNo);
    const fieldPath = join(path, f ? f.name : `<unknown field ${fieldNo}>`);
    const element = () => {
      if (!f?.repeated) return fieldPath;
      const i = counts.get(fieldNo) ?? 0;
      counts.set(fieldNo, i + 1);
      return `${fieldPath}[${i}]`;
    };
    switch (wire) {
      case 0: {
        const v = readVarint(buf, pos, end);
        if (!v) return malformed(fieldPath, 'a varint is cut short', pos);
        if (f?.int64 && f.int64 !== 'fixed64' && f.int64 !== 'sfixed64') {
          const p = rangeProblem(asValue(v[0], f.int64), element(), pos);
          if (p) return p;
        }
        pos = v[1];
        break;
      }
      case 1: {
        if (pos + 8 > end) return malformed(fieldPath, `a 64-bit value needs 8 bytes, ${nBytes(end - pos)} left`, pos);
        if (f?.int64 === 'fixed64' || f?.int64 === 'sfixed64') {
          const p = rangeProblem(asValue(readFixed64(buf, pos), f.int64), element(), pos);
          if (p) return p;
        }
        pos += 8;
        break;
      }
      case 2: {
        const len = readVarint(buf, pos, end);
        if (!len) return malformed(fieldPath, 'a length is cut short', pos);
        const bodyStart = len[1];
        const bodyEnd = bodyStart + Number(len[0]);
        if (bodyEnd > end) return malformed(fieldPath, `a length of ${len[0]} bytes runs past the end of ${path ? 'its message' : 'the request'}, ${nBytes(end - bodyStart)} left`, pos);
        if (f?.message) {
          const inner = walk(schema, schema.message(f.message), buf, bodyStart, bodyEnd, element());
          if (typeof inner !== 'number') return inner;
          pos = inner;
        } else if (f?.int64 && f.repeated) {
          // packed
          const fixed = f.int64 === 'fixed64' || f.int64 === 'sfixed64';
          let p = bodyStart;
          while (p < bodyEnd) {
            let raw: bigint;
            const elemAt = p;
            if (fixed) {
              if (p + 8 > bodyEnd) return malformed(fieldPath, `a packed 64-bit value needs 8 bytes, ${nBytes(bodyEnd - p)} left`, p);
              raw = readFixed64(buf, p);
              p += 8;
            } else {
              const v = readVarint(buf, p, bodyEnd);
              if (!v) return malformed(fieldPath, 'a packed varint is cut short', p);
              [raw, p] = v;
            }
            const problem = rangeProblem(asValue(raw, f.int64), element(), elemAt);
            if (problem) return problem;
          }
          pos = bodyEnd;
        } else {
          pos = bodyEnd;
        }
        break;
      }
      case 3: {
        const after = skipGroup(buf, pos, end, fieldNo, 0);
        if (typeof after !== 'number') return malformed(fieldPath, after.text, after.at);
        pos = after;
        break;
      }
      case 4:
        return pos;
      case 5:
        if (pos + 4 > end) return malformed(fieldPath, `a 32-bit value needs 4 bytes, ${nBytes(end - pos)} left`, pos);
        pos += 4;
        break;
      default:
        return malformed(path, `wire type ${wire} (field number ${fieldNo}) is not protobuf`, at);
    }
  }
  return pos;
}

/** Skips a (deprecated) group up to its end tag; nesting is bounded by the message size. */
function skipGroup(buf: Uint8Array, pos: number, end: number, fieldNo: number, depth: number): number | { text: string; at: number } {
  if (depth > 100) return { text: 'groups nested too deeply', at: pos };
  while (pos < end) {
    const at = pos;
    const tag = readVarint(buf, pos, end);
    if (!tag) return { text: 'a field tag is cut short', at };
    pos = tag[1];
    const no = Number(BigInt.asUintN(32, tag[0]) >> 3n);
    const wire = Number(tag[0] & 7n);
    if (wire === 4) return no === fieldNo ? pos : { text: `group ${fieldNo} ends with the end tag of ${no}`, at };
    if (wire === 0) {
      const v = readVarint(buf, pos, end);
      if (!v) return { text: 'a varint is cut short', at: pos };
      pos = v[1];
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > end) return { text: 'a fixed-width value is cut short', at };
    } else if (wire === 2) {
      const len = readVarint(buf, pos, end);
      if (!len || len[1] + Number(len[0]) > end) return { text: 'a length runs past the end of the message', at: pos };
      pos = len[1] + Number(len[0]);
    } else if (wire === 3) {
      const after = skipGroup(buf, pos, end, no, depth + 1);
      if (typeof after !== 'number') return after;
      pos = after;
    } else {
      return { text: `wire type ${wire} (field number ${no}) is not protobuf`, at };
    }
  }
  return { text: `group ${fieldNo} has no end tag`, at: pos };
}

type AnyMethod = ServiceDefinition[string];

/**
 * `definition` with every requestDeserialize answering an `UndecodableRequest` instead of
 * throwing. The types still say the request type: only with
 * `undecodableRequestInterceptor` installed, which keeps the marker from every handler.
 */
export function guardRequestDecoding<D extends ServiceDefinition>(definition: D, schema?: RequestSchema): D {
  const guarded: Record<string, AnyMethod> = {};
  for (const [key, method] of Object.entries(definition as Record<string, AnyMethod>)) {
    const decode = method.requestDeserialize;
    const typeName = schema?.requestType(method.path);
    const plain = (err: unknown) => `could not decode ${typeName ?? `the request of ${method.path}`}: ${err instanceof Error ? err.message : String(err)}`;
    guarded[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          let details: string;
          try {
            details = typeName && schema ? schema.explain(typeName, bytes, err) : plain(err);
          } catch {
            details = plain(err);
          }
          return new UndecodableRequest(details);
        }
      },
    };
  }
  return guarded as D;
}

/**
 * Answers INVALID_ARGUMENT, with the explanation, for a request message the guarded
 * deserializer could not decode, before any handler sees it. Put it last, so that the
 * metrics interceptor counts that status.
 */
export function undecodableRequestInterceptor(): ServerInterceptor {
  return (_def, call) => {
    const intercepted: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMessage: (message, nextMsg) => {
          if (message instanceof UndecodableRequest) {
            intercepted.sendStatus({ code: status.INVALID_ARGUMENT, details: message.details, metadata: new Metadata() });
          } else {
            nextMsg(message);
          }
        },
      }),
    });
    return intercepted;
  };
}
