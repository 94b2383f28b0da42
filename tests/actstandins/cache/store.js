// The cache store shared by the cache stand-ins (main and post of actions/cache, actions/cache/save).
// As on GitHub, an entry is found by its key together with its version, and the version is the
// `path` input exactly as given: a save and a restore of the same key with different paths miss.
"use strict";
const crypto = require("crypto");
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const c = require("./common.js");

function entryDir(key, version) {
  return path.join(c.stateDir("cache"), crypto.createHash("sha256").update(`${version}\n${key}`).digest("hex"));
}

function checkPath(target) {
  if (target.includes("\n")) c.fail("stand-in: several cache paths are not implemented");
  c.noGlobs(target);
}

// The entry for key (exact), else the newest whose key starts with a restore-key; of this version only.
function find(key, version, restoreKeys) {
  const store = c.stateDir("cache");
  const entries = fs.readdirSync(store).map((d) => {
    const meta = JSON.parse(fs.readFileSync(path.join(store, d, "meta.json"), "utf8"));
    return { dir: path.join(store, d, "data"), ...meta };
  }).filter((e) => e.version === version).sort((a, b) => b.created - a.created);
  let hit = entries.find((e) => e.key === key);
  const exact = Boolean(hit);
  if (!hit) {
    for (const prefix of restoreKeys) {
      hit = entries.find((e) => e.key.startsWith(prefix));
      if (hit) break;
    }
  }
  return { hit, exact };
}

// Save like actions/cache: a missing path saves nothing, and an existing key (of this version) is
// never overwritten (GitHub refuses to reserve it again).
function save(key, version) {
  checkPath(version);
  const source = c.expand(version);
  const entry = entryDir(key, version);
  if (!fs.existsSync(source)) {
    console.log(`::warning::Path Validation Error: Path(s) specified in the action for caching do(es) not exist, hence no cache is being saved.`);
  } else if (fs.existsSync(path.join(entry, "meta.json"))) {
    console.log(`::warning::Failed to save: Unable to reserve cache with key ${key}, another job may be creating this cache.`);
  } else {
    unpack(source, path.join(entry, "data"));
    fs.writeFileSync(path.join(entry, "meta.json"), JSON.stringify({ key, version, created: Date.now() }));
    console.log(`Cache saved with key: ${key}`);
  }
}

// A copy made as actions/cache makes it, with tar: symbolic links stay links (node's cpSync resolves them, and
// refuses to copy a link over the link a restored folder already holds). ML_CI_STANDIN_CACHE_LINKS=1 (the act tests)
// hardlinks a Python environment's files instead (a folder with pyvenv.cfg, which the setup-python stand-in makes):
// each job's environment is GBs that uv hardlinked from its cache, which a full copy per job would write out again.
// Installers and Python replace such files (unlink, rename) and never write into them, so a link cannot change the
// stored entry; other folders (models, outputs) are copied. The benchmarks leave it unset and copy as GitHub does.
function unpack(from, to) {
  fs.mkdirSync(to, { recursive: true });
  if (process.env.ML_CI_STANDIN_CACHE_LINKS === "1" && fs.existsSync(path.join(from, "pyvenv.cfg"))) {
    execFileSync("cp", ["-a", "--link", "--remove-destination", "--", `${from}/.`, to], { stdio: "inherit" });
    return;
  }
  execFileSync("bash", ["-c", 'tar -C "$1" -cf - . | tar -C "$2" -xf -', "unpack", from, to], { stdio: "inherit" });
}

module.exports = { checkPath, find, save, unpack };
