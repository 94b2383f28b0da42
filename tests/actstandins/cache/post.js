"use strict";
const c = require("./common.js");
const store = require("./store.js");

const key = c.input("key");
if (c.state("EXACT") === "true") {
  console.log(`Cache hit occurred on the primary key ${key}, not saving cache.`);
} else {
  store.save(key, c.input("path"));
}
