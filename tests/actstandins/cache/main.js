"use strict";
const fs = require("fs");
const c = require("./common.js");
const store = require("./store.js");

const key = c.input("key");
const target = c.input("path");
store.checkPath(target);
const restoreKeys = c.input("restore-keys").split("\n").map((s) => s.trim()).filter(Boolean);
const { hit, exact } = store.find(key, target, restoreKeys);
if (hit) {
  fs.cpSync(hit.dir, c.expand(target), { recursive: true });
  console.log(`Cache restored from key: ${hit.key}`);
} else {
  console.log(`Cache not found for input keys: ${key}`);
}
c.output("cache-hit", exact ? "true" : "false");
c.saveState("EXACT", exact ? "true" : "false");
