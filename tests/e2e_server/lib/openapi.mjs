// docs/openapi.yaml for tests: the document (read with the `yaml` package), its operations, and
// checks of real answers against it (ajv, JSON Schema 2020-12: the dialect of OpenAPI 3.1).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

export const DOC_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/openapi.yaml');
export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
// x-newsreel-role, least first.
export const ROLES = ['anonymous', 'signed-in', 'reporter', 'editor', 'admin'];

export function loadDocument() {
  return YAML.parse(fs.readFileSync(DOC_FILE, 'utf8'));
}

const escape = (key) => key.replace(/~/g, '~0').replace(/\//g, '~1');

// The value at a local reference ("#/components/schemas/Video").
export function resolvePointer(doc, ref) {
  if (!ref.startsWith('#/')) throw new Error(`not a local reference: ${ref}`);
  let node = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) throw new Error(`unresolved reference ${ref}`);
    node = node[key];
  }
  return node;
}

// Follows `$ref`s (of parameters, responses, headers) to the object and its pointer.
export function follow(doc, node, pointer) {
  const seen = new Set();
  while (node && node.$ref) {
    if (seen.has(node.$ref)) throw new Error(`reference loop at ${node.$ref}`);
    seen.add(node.$ref);
    pointer = node.$ref;
    node = resolvePointer(doc, node.$ref);
  }
  return { node, pointer };
}

// Every operation: key ("GET /api/v1/videos"), method (upper case), path, the operation object,
// its pointer, and its parameters (the path's and its own, followed).
export function operations(doc) {
  const out = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of HTTP_METHODS) {
      const op = item[m];
      if (!op) continue;
      const pointer = `#/paths/${escape(p)}/${m}`;
      const parameters = [
        ...(item.parameters || []).map((x, i) => follow(doc, x, `#/paths/${escape(p)}/parameters/${i}`)),
        ...(op.parameters || []).map((x, i) => follow(doc, x, `${pointer}/parameters/${i}`)),
      ];
      out.push({ key: `${m.toUpperCase()} ${p}`, method: m.toUpperCase(), path: p, op, pointer, parameters });
    }
  }
  return out;
}

// Every `$ref` in the document, with where it is.
export function references(node, at = '#') {
  if (node === null || typeof node !== 'object') return [];
  const found = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') found.push({ ref: v, at });
    else found.push(...references(v, `${at}/${escape(k)}`));
  }
  return found;
}

// A copy of the document whose object schemas admit no property they do not name
// (`unevaluatedProperties: false`), so that a field the server sends and the document omits
// fails the check. The members of an allOf point at open copies of their schemas
// (`X__open`) and the allOf itself is closed, so that its members' properties add up.
function closedCopy(doc) {
  const d = structuredClone(doc);
  const schemas = d.components.schemas;
  const close = (s, open) => {
    if (!s || typeof s !== 'object') return;
    if (Array.isArray(s)) { s.forEach((x) => close(x, false)); return; }
    const decides = 'additionalProperties' in s || 'unevaluatedProperties' in s;
    if ((s.properties || s.allOf) && !open && !decides) s.unevaluatedProperties = false;
    for (const key of ['properties', 'patternProperties', '$defs']) {
      for (const v of Object.values(s[key] || {})) close(v, false);
    }
    for (const key of ['items', 'additionalProperties', 'not']) close(s[key], false);
    for (const key of ['oneOf', 'anyOf']) (s[key] || []).forEach((x) => close(x, false));
    for (const member of s.allOf || []) {
      if (member.$ref) member.$ref = `${member.$ref}__open`;
      else close(member, true);
    }
  };
  for (const [name, s] of Object.entries({ ...schemas })) {
    schemas[`${name}__open`] = structuredClone(s);
    close(schemas[`${name}__open`], true);
    close(s, false);
  }
  const closeInline = (node) => {
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'schema' && v && typeof v === 'object') close(v, false);
      else closeInline(v);
    }
  };
  closeInline(d.paths);
  closeInline({ ...d.components, schemas: {} });
  return d;
}

// Validates values against the document's schemas, by pointer. `closed` refuses properties
// the document does not name (for the server's answers); open is the document as written (for
// its own examples, which may leave things out).
export function schemaChecker(doc) {
  const make = (source, id) => {
    const ajv = new Ajv2020({
      // Strict, so that a mistyped keyword in the document fails; a schema need not repeat
      // `type: object` beside allOf.
      strict: true, strictTypes: false, allErrors: true, allowUnionTypes: true,
      formats: { int64: true, int32: true },
    });
    // The document's other top-level keys are not schema keywords.
    ajv.addVocabulary(['openapi', 'info', 'servers', 'tags', 'security', 'paths', 'components',
      'jsonSchemaDialect', 'webhooks', 'externalDocs']);
    ajv.addSchema({ ...source, $id: id });
    return (pointer, value) => {
      const validate = ajv.getSchema(`${id}${pointer}`);
      if (!validate) throw new Error(`no schema at ${pointer}`);
      return validate(value) ? [] : validate.errors.map((e) => `${e.instancePath || '(root)'} ${e.message} ${JSON.stringify(e.params)}`);
    };
  };
  return { closed: make(closedCopy(doc), 'openapi-closed'), open: make(doc, 'openapi') };
}

// What is wrong with an answer to `operation` (its status, JSON body, headers), as a list.
export function checkAnswer(doc, checker, operation, answer) {
  const problems = [];
  const documented = Object.keys(operation.op.responses);
  const status = String(answer.status);
  if (!documented.includes(status)) {
    return [`${operation.key} answered ${status}, which it does not document (${documented.join(', ')}): ${answer.body.toString().slice(0, 200)}`];
  }
  const { node: response, pointer } = follow(doc, operation.op.responses[status], `${operation.pointer}/responses/${status}`);
  const json = response.content?.['application/json'];
  const text = answer.body.toString();
  if (operation.method === 'HEAD') {
    if (text.length > 0) problems.push(`${operation.key} ${status}: a HEAD answer with a body`);
  } else if (json) {
    if (!String(answer.headers['content-type'] || '').startsWith('application/json')) {
      problems.push(`${operation.key} ${status}: Content-Type ${answer.headers['content-type']}, not JSON`);
    }
    let value;
    try { value = JSON.parse(text); } catch { problems.push(`${operation.key} ${status}: the body is not JSON: ${text.slice(0, 200)}`); }
    if (value !== undefined) {
      for (const e of checker.closed(`${pointer}/content/application~1json/schema`, value)) {
        problems.push(`${operation.key} ${status}: ${e}`);
      }
    }
  } else if (!response.content && text.length > 0) {
    problems.push(`${operation.key} ${status}: documented without a body, answered ${JSON.stringify(text.slice(0, 100))}`);
  }
  for (const [name, ref] of Object.entries(response.headers || {})) {
    const { node: header } = follow(doc, ref, '');
    const value = answer.headers[name.toLowerCase()];
    if (value === undefined) {
      if (header.required) problems.push(`${operation.key} ${status}: no ${name} header`);
      continue;
    }
    const schema = header.schema || {};
    if (schema.type === 'integer' && !/^\d+$/.test(value)) problems.push(`${operation.key} ${status}: ${name}: ${value} is not an integer`);
    if (schema.const !== undefined && value !== String(schema.const)) problems.push(`${operation.key} ${status}: ${name}: ${value}, not ${schema.const}`);
  }
  return problems;
}
