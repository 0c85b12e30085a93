/** The checker itself (`npm test`): each kind of mismatch is caught, a conforming answer is not. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { Conformance } from "./conformance.js";

const document = {
  paths: {
    "/api/things/{thing_id}/": {
      get: {
        responses: {
          "200": {
            description: "OK",
            content: { "application/json": { schema: { $ref: "#/components/schemas/Thing" } } },
          },
          "429": {
            description: "Throttled",
            headers: { "Retry-After": { schema: { type: "integer" }, required: true } },
            content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          },
        },
      },
      delete: { responses: { "202": { description: "Accepted" }, "204": { description: "Deleted" } } },
    },
    "/api/things/mine/": {
      get: { responses: { "200": { description: "OK", content: { "application/json": { schema: { type: "array" } } } } } },
    },
  },
  components: {
    schemas: {
      Thing: {
        type: "object",
        properties: { id: { type: "integer" }, seen_at: { type: "string", format: "date-time" } },
        required: ["id", "seen_at"],
      },
      Error: { type: "object", properties: { code: { type: "string" } }, required: ["code"] },
    },
  },
};

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

async function kinds(method: string, path: string, response: Response): Promise<string[]> {
  const call = await new Conformance(document).check(method, path, response);
  return call.findings.map((finding) => finding.kind);
}

test("a conforming answer has no finding", async () => {
  assert.deepEqual(await kinds("GET", "/api/things/7/", json({ id: 7, seen_at: "2026-01-02T03:04:05Z" }, 200)), []);
  assert.deepEqual(await kinds("DELETE", "/api/things/7/", new Response(null, { status: 204 })), []);
  assert.deepEqual(await kinds("GET", "/api/things/mine/", json([], 200)), []);
});

test("a status the operation does not declare", async () => {
  assert.deepEqual(await kinds("GET", "/api/things/7/", json({ code: "forbidden" }, 403)), ["undeclared-status"]);
});

test("a body that does not validate, formats included", async () => {
  assert.deepEqual(await kinds("GET", "/api/things/7/", json({ id: "7", seen_at: "2026-01-02T03:04:05Z" }, 200)), ["body"]);
  assert.deepEqual(await kinds("GET", "/api/things/7/", json({ id: 7, seen_at: "yesterday" }, 200)), ["body"]);
  assert.deepEqual(await kinds("GET", "/api/things/7/", json({ id: 7 }, 200)), ["body"]);
});

test("a media type or a body where none is declared", async () => {
  const html = new Response("<p>7</p>", { status: 200, headers: { "Content-Type": "text/html" } });
  assert.deepEqual(await kinds("GET", "/api/things/7/", html), ["content-type"]);
  assert.deepEqual(await kinds("DELETE", "/api/things/7/", json({ deleted: true }, 202)), ["content-type"]);
});

test("headers: undeclared Retry-After, missing required one", async () => {
  const throttled = json({ code: "throttled" }, 429);
  assert.deepEqual(await kinds("GET", "/api/things/7/", throttled), ["missing-header:retry-after"]);
  const conformance = new Conformance(document);
  const call = await conformance.check("DELETE", "/api/things/7/", new Response(null, { status: 204, headers: { "Retry-After": "5" } }));
  assert.deepEqual(
    call.findings.map((finding) => finding.key),
    ["DELETE /api/things/{thing_id}/ 204 undeclared-header:retry-after"],
  );
});

test("a literal path wins over a parameter, and an unknown path is reported", async () => {
  const conformance = new Conformance(document);
  assert.equal((await conformance.check("GET", "/api/things/mine/", json([], 200))).template, "/api/things/mine/");
  assert.deepEqual(await kinds("GET", "/api/nothing/", json({}, 200)), ["unknown-operation"]);
});
