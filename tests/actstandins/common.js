// Shared by the node stand-ins: inputs, outputs and state the way the runner passes them.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

function input(name, fallback = "") {
  const v = process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`];
  return v === undefined || v === "" ? fallback : v.trim();
}
function append(fileVar, line) {
  fs.appendFileSync(process.env[fileVar], line + "\n");
}
function output(name, value) { append("GITHUB_OUTPUT", `${name}=${value}`); }
function saveState(name, value) { append("GITHUB_STATE", `${name}=${value}`); }
function state(name) { return process.env[`STATE_${name}`] || ""; }
function stateDir(kind) {
  const root = process.env.ML_CI_STANDIN_STATE;
  if (!root) throw new Error("ML_CI_STANDIN_STATE is not set");
  const dir = path.join(root, kind);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
function expand(p) {
  const home = os.homedir();
  p = p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
  return path.resolve(process.env.GITHUB_WORKSPACE || process.cwd(), p);
}
function fail(message) {
  console.log(`::error::${message}`);
  process.exit(1);
}
function listFiles(dir, includeHidden, rel = "") {
  const out = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    if (!includeHidden && entry.name.startsWith(".")) continue;
    const r = path.join(rel, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(dir, includeHidden, r));
    else if (entry.isFile()) out.push(r);
  }
  return out;
}
function noGlobs(p) {
  if (/[*?[\]{}!]/.test(p)) fail(`stand-in: glob patterns in path are not implemented (${p})`);
}
module.exports = { input, output, saveState, state, stateDir, expand, fail, listFiles, noGlobs };
