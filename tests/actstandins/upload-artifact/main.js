"use strict";
const fs = require("fs");
const path = require("path");
const c = require("./common.js");

const name = c.input("name", "artifact");
const hidden = c.input("include-hidden-files", "false") === "true";
const dest = path.join(c.stateDir("artifacts"), name);
if (fs.existsSync(dest)) c.fail(`an artifact with the name ${name} already exists for this run`);
const paths = c.input("path").split("\n").map((s) => s.trim()).filter(Boolean);
const files = [];
for (const p of paths) {
  c.noGlobs(p);
  const abs = c.expand(p);
  if (!fs.existsSync(abs)) continue;
  const parts = path.relative(process.env.GITHUB_WORKSPACE || process.cwd(), abs).split(path.sep);
  if (!hidden && parts.some((s) => s.startsWith(".") && s !== "." && s !== "..")) continue;
  if (fs.statSync(abs).isDirectory()) {
    // A single directory uploads its contents relative to itself, as the real action does.
    const base = paths.length === 1 ? abs : path.dirname(abs);
    for (const f of c.listFiles(abs, hidden)) files.push([path.join(abs, f), path.relative(base, path.join(abs, f))]);
  } else {
    files.push([abs, path.basename(abs)]);
  }
}
if (files.length === 0) {
  const mode = c.input("if-no-files-found", "warn");
  const msg = `No files were found with the provided path: ${paths.join(", ")}. No artifacts will be uploaded.`;
  if (mode === "error") c.fail(msg);
  if (mode === "warn") console.log(`::warning::${msg}`);
  process.exit(0);
}
for (const [src, rel] of files) {
  fs.mkdirSync(path.dirname(path.join(dest, rel)), { recursive: true });
  fs.copyFileSync(src, path.join(dest, rel));
}
console.log(`Artifact ${name} has been uploaded (${files.length} files)`);
c.output("artifact-id", name);
