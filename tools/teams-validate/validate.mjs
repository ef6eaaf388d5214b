#!/usr/bin/env node
// Teams manifest + Adaptive Card validator.
//   node validate.mjs manifest PATH.json   -> Microsoft's Teams JSON schema (from @microsoft/app-manifest)
//   node validate.mjs cards PATH.json      -> JSON array of Adaptive Cards, via Microsoft's `adaptivecards` lib
// Prints {"ok": bool, "errors": [...]} on stdout. Exit 0 = ok, 1 = invalid/unreadable input, 2 = usage error.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCHEMA_DIR = path.join(HERE, "node_modules/@microsoft/app-manifest/build/json-schemas/teams");

function finish(errors) {
  fs.writeSync(1, JSON.stringify({ ok: errors.length === 0, errors }, null, 2) + "\n"); // sync: safe before exit
  process.exit(errors.length === 0 ? 0 : 1);
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8").replace(/^\uFEFF/, "")); // Teams tooling tolerates a BOM
  } catch (e) {
    finish([{ instancePath: "", message: `cannot read/parse ${file}: ${e.message}` }]);
  }
}

function shippedVersions() {
  return fs.readdirSync(SCHEMA_DIR)
    .filter((d) => fs.existsSync(path.join(SCHEMA_DIR, d, "MicrosoftTeams.schema.json")))
    .map((d) => (d === "vDevPreview" ? "devPreview" : d.slice(1)))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

function validateManifest(file) {
  const manifest = readJson(file);
  const mv = manifest && typeof manifest === "object" ? manifest.manifestVersion : undefined;
  const versions = shippedVersions();
  if (typeof mv !== "string" || !versions.includes(mv)) {
    finish([{ instancePath: "/manifestVersion",
      message: `manifestVersion ${JSON.stringify(mv)} has no shipped schema; shipped: ${versions.join(", ")}` }]);
  }
  // All Teams schemas (v1.0 .. v1.30, devPreview) declare draft-04 => ajv-draft-04, not plain Ajv / ajv/dist/2019.
  // strict:false because v1.17+ trip Ajv strictTypes ("missing type object for keyword additionalProperties").
  const Ajv04 = require("ajv-draft-04");
  const addFormats = require("ajv-formats");
  const ajv = new Ajv04({ allErrors: true, strict: false });
  addFormats(ajv); // schemas only use format "uri"
  const schemaFile = path.join(SCHEMA_DIR, `v${mv}`, "MicrosoftTeams.schema.json");
  const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
  if (validate(manifest)) finish([]);
  finish(validate.errors.map((e) => ({
    instancePath: e.instancePath,
    message: e.message,
    params: e.params,
    text: `${e.instancePath || "/"} ${e.message}`,
  })));
}

function validateCards(file) {
  // lib/ (package "main") is untranspiled ESM with extension-less imports -> not loadable by Node.
  // The UMD bundle in dist/ loads fine and parse/validate need no DOM (render() would).
  const AC = require("adaptivecards/dist/adaptivecards.js");
  const cards = readJson(file);
  if (!Array.isArray(cards)) finish([{ card: null, message: "file must contain a JSON array of Adaptive Card objects" }]);
  const errors = [];
  cards.forEach((json, card) => {
    if (!json || typeof json !== "object" || Array.isArray(json)) {
      errors.push({ card, event: "NotAnObject", message: "card must be a JSON object" });
      return;
    }
    const ac = new AC.AdaptiveCard();
    const ctx = new AC.SerializationContext();
    const events = [];
    try {
      ac.parse(json, ctx);
      for (let i = 0; i < ctx.eventCount; i++) events.push(ctx.getEventAt(i));
      // 3.0.6: ValidationResults has .validationEvents (there is no .failures).
      events.push(...ac.validateProperties().validationEvents);
    } catch (e) {
      errors.push({ card, event: "Exception", message: String(e && e.message || e) });
      return;
    }
    for (const ev of events) {
      const src = ev.source;
      errors.push({
        card,
        phase: AC.ValidationPhase[ev.phase],   // Parse | Validation
        event: AC.ValidationEvent[ev.event],   // e.g. UnknownElementType, DuplicateId, CollectionCantBeEmpty
        element: src && typeof src.getJsonTypeName === "function" ? src.getJsonTypeName() : undefined,
        id: src && src.id ? src.id : undefined,
        message: ev.message,
      });
    }
  });
  finish(errors);
}

const [mode, file] = process.argv.slice(2);
if (!file || (mode !== "manifest" && mode !== "cards")) {
  process.stderr.write("usage: node validate.mjs manifest|cards PATH.json\n");
  process.exit(2);
}
mode === "manifest" ? validateManifest(file) : validateCards(file);
