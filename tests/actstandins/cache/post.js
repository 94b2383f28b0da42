"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const c = require("./common.js");

const key = c.input("key");
const source = c.expand(c.input("path"));
if (c.state("EXACT") === "true") {
  console.log(`Cache hit occurred on the primary key ${key}, not saving cache.`);
} else if (!fs.existsSync(source)) {
  console.log(`Path does not exist: ${source}; not saving cache.`);
} else {
  const entry = path.join(c.stateDir("cache"), crypto.createHash("sha256").update(key).digest("hex"));
  fs.rmSync(entry, { recursive: true, force: true });
  fs.cpSync(source, path.join(entry, "data"), { recursive: true });
  fs.writeFileSync(path.join(entry, "meta.json"), JSON.stringify({ key, created: Date.now() }));
  console.log(`Cache saved with key: ${key}`);
}
