#!/usr/bin/env node
// Generates src/api/schema.d.ts from the committed OpenAPI document with openapi-typescript.
//
//   node scripts/gen-api.mjs          write src/api/schema.d.ts
//   node scripts/gen-api.mjs --check  fail when src/api/schema.d.ts is not what the document gives
//
// The SPA (and `tsc`) use these types, so a change to the API that breaks clients breaks the
// type-check in scripts/browser-test.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const docPath = join(root, "../../openapi/openapi.json");
const outPath = join(root, "src/api/schema.d.ts");

// Component schemas the document refers to without defining. openapi-typescript refuses a
// dangling $ref, so a name listed here is generated as `unknown` (with a warning) until the API
// registers it; any other dangling $ref fails. Keep this list empty whenever possible.
const KNOWN_DANGLING = new Set([]);

const doc = JSON.parse(readFileSync(docPath, "utf8"));
const defined = new Set(Object.keys(doc.components?.schemas ?? {}));
const dangling = new Set();
const unknownRefs = new Set();
(function walk(node) {
  if (Array.isArray(node)) return node.forEach(walk);
  if (node === null || typeof node !== "object") return;
  const ref = node.$ref;
  if (typeof ref === "string" && ref.startsWith("#/components/schemas/")) {
    const name = ref.slice("#/components/schemas/".length);
    if (!defined.has(name)) {
      if (!KNOWN_DANGLING.has(name)) unknownRefs.add(name);
      dangling.add(name);
      // An empty schema is `unknown`: the type stays honest about what it does not know.
      delete node.$ref;
      node.description = `${node.description ?? ""} (undefined schema ${name} in the document)`.trim();
      return;
    }
  }
  Object.values(node).forEach(walk);
})(doc);

if (unknownRefs.size > 0) {
  console.error(
    `openapi/openapi.json refers to undefined schemas: ${[...unknownRefs].join(", ")}. ` +
      "Fix the document (register the schema in the API) rather than this list.",
  );
  process.exit(1);
}
for (const name of dangling) {
  console.warn(`warning: openapi/openapi.json refers to the undefined schema ${name}; typed as unknown`);
}
for (const name of KNOWN_DANGLING) {
  if (!dangling.has(name)) {
    console.warn(`note: ${name} is defined now; remove it from KNOWN_DANGLING in ${relative(root, fileURLToPath(import.meta.url))}`);
  }
}

const ast = await openapiTS(doc, { alphabetize: false, exportType: false });
const text = `${COMMENT_HEADER}// Source: openapi/openapi.json. Regenerate with \`npm run gen:api\`.\n\n${astToString(ast).replace(/^\s+/, "")}`;

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(outPath, "utf8");
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    console.error(
      "src/api/schema.d.ts is not up to date with openapi/openapi.json: run `npm run gen:api` in examples/spa and commit it.",
    );
    process.exit(1);
  }
  console.log("src/api/schema.d.ts is up to date with openapi/openapi.json");
} else {
  writeFileSync(outPath, text);
  console.log(`wrote ${relative(root, outPath)}`);
}
