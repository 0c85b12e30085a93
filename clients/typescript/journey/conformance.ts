/**
 * Checks every answer of the API against what its OpenAPI document declares for that operation:
 * the status is declared, the media type is the declared one, the body validates against the
 * declared JSON Schema (OpenAPI 3.1 schemas are JSON Schema 2020-12: Ajv 2020) and the headers a
 * client acts on (`Retry-After`, `Location`) are declared. Used as the client's `fetch`, so every
 * request of the journey, the client's own refreshes and retries included, goes through it.
 */
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;
/** Response headers whose meaning a client relies on: present but undeclared is a mismatch. */
const MEANINGFUL_HEADERS = ["retry-after", "location"];
const DOCUMENT_ID = "https://resee.local/openapi.json";

export type FindingKind =
  | "unknown-operation"
  | "undeclared-status"
  | "content-type"
  | "body"
  | `undeclared-header:${string}`
  | `missing-header:${string}`;

export interface Finding {
  /** `<METHOD> <path template> <status> <kind>`: the key of the known-gaps allow-list. */
  key: string;
  kind: FindingKind;
  detail: string;
}

export interface Call {
  method: string;
  path: string;
  template: string | null;
  status: number;
  code: string | null;
  findings: Finding[];
}

interface Operation {
  template: string;
  pattern: RegExp;
  pointer: string;
  responses: Record<string, ResponseObject>;
}

interface MediaObject {
  schema?: unknown;
}

interface HeaderObject {
  required?: boolean;
}

interface ResponseObject {
  description?: string;
  content?: Record<string, MediaObject>;
  headers?: Record<string, HeaderObject>;
}

export interface OpenApiDocument {
  paths: Record<string, Partial<Record<(typeof METHODS)[number], { responses?: Record<string, ResponseObject> }>>>;
}

function escapePointer(part: string): string {
  return part.replaceAll("~", "~0").replaceAll("/", "~1");
}

function templatePattern(template: string): RegExp {
  const escaped = template
    .split(/\{[^}]+\}/)
    .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("[^/]+");
  return new RegExp(`^${escaped}$`);
}

export class Conformance {
  readonly calls: Call[] = [];
  readonly #operations = new Map<string, Operation[]>();
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #ajv: Ajv2020;

  constructor(document: OpenApiDocument) {
    // strict is off: the document carries OpenAPI keywords (`example`, `discriminator`) that are
    // annotations, not JSON Schema vocabulary. Formats are validated (date-time, email, uri...).
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats.default(this.#ajv);
    this.#ajv.addSchema(document as object, DOCUMENT_ID);
    for (const [template, item] of Object.entries(document.paths)) {
      for (const method of METHODS) {
        const operation = item[method];
        if (operation === undefined) continue;
        const list = this.#operations.get(method.toUpperCase()) ?? [];
        list.push({
          template,
          pattern: templatePattern(template),
          pointer: `#/paths/${escapePointer(template)}/${method}/responses`,
          responses: operation.responses ?? {},
        });
        this.#operations.set(method.toUpperCase(), list);
      }
    }
    // A literal segment wins over a parameter: /api/content/categories/ before /api/content/{id}/.
    for (const list of this.#operations.values()) {
      list.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
    }
  }

  /** A `fetch` that sends through `inner` and checks each answer before handing it back. */
  fetch(inner: typeof globalThis.fetch = globalThis.fetch): typeof globalThis.fetch {
    return async (input, init) => {
      const request = new Request(input, init);
      const response = await inner(request);
      await this.check(request.method, new URL(request.url).pathname, response.clone());
      return response;
    };
  }

  async check(method: string, path: string, response: Response): Promise<Call> {
    const operation = this.#operations.get(method)?.find((candidate) => candidate.pattern.test(path));
    const text = await response.text();
    const body: unknown = parseJson(text);
    const code = isRecord(body) && typeof body["code"] === "string" ? body["code"] : null;
    const call: Call = { method, path, template: operation?.template ?? null, status: response.status, code, findings: [] };
    this.calls.push(call);
    const report = (kind: FindingKind, detail: string): void => {
      call.findings.push({ key: `${method} ${call.template ?? path} ${response.status} ${kind}`, kind, detail });
    };

    if (operation === undefined) {
      report("unknown-operation", "no operation of the schema has this method and path");
      return call;
    }
    const status = String(response.status);
    const declared = operation.responses[status] ?? operation.responses["default"];
    if (declared === undefined) {
      const statuses = Object.keys(operation.responses).join(", ");
      report("undeclared-status", `declared: ${statuses}; answered ${status} ${code ?? ""} ${text.slice(0, 160)}`);
      return call;
    }

    const declaredHeaders = new Map(
      Object.entries(declared.headers ?? {}).map(([name, header]) => [name.toLowerCase(), header]),
    );
    for (const name of MEANINGFUL_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null && !declaredHeaders.has(name)) report(`undeclared-header:${name}`, `${name}: ${value}`);
    }
    for (const [name, header] of declaredHeaders) {
      if (header.required === true && !response.headers.has(name)) report(`missing-header:${name}`, "declared required");
    }

    const media = Object.keys(declared.content ?? {});
    if (media.length === 0) {
      if (text.length > 0) report("content-type", `no body declared, got ${text.length} bytes`);
      return call;
    }
    const contentType = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    if (!media.includes(contentType)) {
      report("content-type", `declared ${media.join(", ")}, got '${contentType}'`);
      return call;
    }
    if (declared.content?.[contentType]?.schema === undefined) return call;
    const validate = this.#validator(operation, operation.responses[status] ? status : "default", contentType);
    if (!validate(body)) {
      const errors = (validate.errors ?? [])
        .slice(0, 5)
        .map((error) => `${error.instancePath || "/"} ${error.message ?? ""} (${error.schemaPath})`);
      report("body", `${errors.join("; ")} in ${text.slice(0, 200)}`);
    }
    return call;
  }

  #validator(operation: Operation, status: string, contentType: string): ValidateFunction {
    const ref = `${DOCUMENT_ID}${operation.pointer}/${status}/content/${escapePointer(contentType)}/schema`;
    let validate = this.#validators.get(ref);
    if (validate === undefined) {
      validate = this.#ajv.compile({ $ref: ref });
      this.#validators.set(ref, validate);
    }
    return validate;
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
