"use strict";
const c = require("../common.js");
const store = require("../store.js");

store.save(c.input("key"), c.input("path"));
