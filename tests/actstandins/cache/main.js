"use strict";
const fs = require("fs");
const path = require("path");
const c = require("./common.js");

const key = c.input("key");
const target = c.input("path");
if (target.includes("\n")) c.fail("stand-in: several cache paths are not implemented");
c.noGlobs(target);
const store = c.stateDir("cache");
const entries = fs.readdirSync(store).map((d) => {
  const meta = JSON.parse(fs.readFileSync(path.join(store, d, "meta.json"), "utf8"));
  return { dir: path.join(store, d, "data"), ...meta };
}).sort((a, b) => b.created - a.created);
let hit = entries.find((e) => e.key === key);
const exact = Boolean(hit);
if (!hit) {
  for (const prefix of c.input("restore-keys").split("\n").map((s) => s.trim()).filter(Boolean)) {
    hit = entries.find((e) => e.key.startsWith(prefix));
    if (hit) break;
  }
}
if (hit) {
  fs.cpSync(hit.dir, c.expand(target), { recursive: true });
  console.log(`Cache restored from key: ${hit.key}`);
} else {
  console.log(`Cache not found for input keys: ${key}`);
}
c.output("cache-hit", exact ? "true" : "false");
c.saveState("EXACT", exact ? "true" : "false");
