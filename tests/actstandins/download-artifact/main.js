"use strict";
const fs = require("fs");
const path = require("path");
const c = require("./common.js");

const store = c.stateDir("artifacts");
const name = c.input("name");
const dest = c.expand(c.input("path", "."));
const globToRegExp = (g) => new RegExp("^" + g.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
if (name) {
  const src = path.join(store, name);
  if (!fs.existsSync(src)) c.fail(`Unable to download artifact(s): Artifact not found for name: ${name}`);
  fs.cpSync(src, dest, { recursive: true });
} else {
  const re = globToRegExp(c.input("pattern", "*"));
  const merge = c.input("merge-multiple", "false") === "true";
  const names = fs.readdirSync(store).filter((n) => re.test(n)).sort();
  for (const n of names) fs.cpSync(path.join(store, n), merge ? dest : path.join(dest, n), { recursive: true });
  console.log(`Downloaded ${names.length} artifact(s): ${names.join(", ")}`);
}
c.output("download-path", dest);
