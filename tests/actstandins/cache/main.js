"use strict";
const c = require("./common.js");
const store = require("./store.js");

const key = c.input("key");
const target = c.input("path");
store.checkPath(target);
const restoreKeys = c.input("restore-keys").split("\n").map((s) => s.trim()).filter(Boolean);
const { hit, exact } = store.find(key, target, restoreKeys);
if (hit) {
  // As actions/cache unpacks its tar archive over the path: symbolic links restored as links (a venv's lib64 -> lib).
  store.unpack(hit.dir, c.expand(target));
  console.log(`Cache restored from key: ${hit.key}`);
} else {
  console.log(`Cache not found for input keys: ${key}`);
}
c.output("cache-hit", exact ? "true" : "false");
c.saveState("EXACT", exact ? "true" : "false");
