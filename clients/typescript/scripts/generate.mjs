#!/usr/bin/env node
// Generates src/schema.d.ts from the API's OpenAPI document with the pinned openapi-typescript.
//
//   npm run generate -- <schema.json | http://host/api/openapi.json> [--out <file>]
//
// `make client` (repository root) dumps the schema with manage.py and calls this; the system test
// (tests/system/test_typescript_client.py) generates from a live server into a temporary file and
// fails when the result differs from the committed src/schema.d.ts.
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const USAGE = "usage: npm run generate -- <schema file | URL> [--out src/schema.d.ts]";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: "string", default: "src/schema.d.ts" } },
});
if (positionals.length !== 1) {
  console.error(USAGE);
  process.exit(2);
}
const [source] = positionals;
const location = /^https?:\/\//.test(source) ? new URL(source) : pathToFileURL(resolve(source));

const ast = await openapiTS(location, {
  // A property with a default is not required in a request body (the server fills it in); with the
  // tool's default (true) every such property would be required of the caller.
  defaultNonNullable: false,
  silent: true,
});
const output = resolve(values.out);
await writeFile(output, COMMENT_HEADER + astToString(ast));
console.log(`wrote ${output} from ${source}`);
