"use strict";
// No Sigstore and no GitHub attestations API here: the stand-in makes the real action's checks on its inputs
// (actions/attest v4.1.0: subject.ts, attest.ts, @sigstore/oci's credentials) and records what it would have
// attested, so that a test reads the subject a release run named. It signs nothing.
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const c = require("./common.js");

function bool(name) {
  // @actions/core getBooleanInput: the YAML 1.2 core schema's booleans, anything else an error.
  const v = c.input(name);
  if (["true", "True", "TRUE"].includes(v)) return true;
  if (["false", "False", "FALSE"].includes(v)) return false;
  c.fail(`Input does not meet YAML 1.2 "Core Schema" specification: ${name}`);
}

for (const name of ["subject-path", "subject-checksums", "predicate-type", "predicate", "predicate-path"]) {
  if (c.input(name)) c.fail(`stand-in: ${name} is not implemented (only subject-digest with subject-name)`);
}
const digest = c.input("subject-digest");
let name = c.input("subject-name");
if (!digest) c.fail("One of subject-path, subject-digest, or subject-checksums must be provided");
if (!/^sha256:[0-9a-f]{64}$/.test(digest)) c.fail(`subject-digest must be in the format "sha256:<hex-digest>": ${digest}`);
if (!name) c.fail("subject-name must be provided when using subject-digest");
const push = bool("push-to-registry");
if (bool("create-storage-record") && push) c.fail("stand-in: storage records are not implemented (set create-storage-record: false)");

async function checkRegistry() {
  // The real action downcases the name for a push and then attaches to the image it finds by that digest.
  name = name.toLowerCase();
  if (/[@]|:[^/]*$/.test(name.split("/").slice(1).join("/"))) c.fail(`subject-name must not carry a tag or digest: ${name}`);
  const slash = name.indexOf("/");
  const registry = slash > 0 ? name.slice(0, slash) : "";
  if (!/[.:]/.test(registry) && registry !== "localhost") c.fail(`subject-name must be a fully qualified image name: ${name}`);
  const repo = name.slice(slash + 1);
  const config = path.join(os.homedir(), ".docker", "config.json");
  let auths;
  try {
    auths = JSON.parse(fs.readFileSync(config, "utf8")).auths || {};
  } catch (err) {
    c.fail(`No credential file found at ${config}`);
  }
  const key = Object.keys(auths).find((k) => k.includes(registry)) || registry;
  if (!auths[key] || !auths[key].auth) c.fail(`No credentials found for registry ${registry}`);
  if (!/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(registry)) {
    c.fail(`stand-in: only a registry on the loopback address can be reached here, not ${registry}`);
  }
  const [host, port] = registry.startsWith("[") ? ["::1", registry.split("]:")[1]] : registry.split(":");
  const status = await new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port || 80),
        method: "HEAD",
        path: `/v2/${repo}/manifests/${digest}`,
        headers: {
          Authorization: `Basic ${auths[key].auth}`,
          Accept: [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
          ].join(", "),
        },
        timeout: 15000,
      },
      (res) => {
        res.resume();
        resolve([res.statusCode, res.headers["docker-content-digest"]]);
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.end();
  }).catch((err) => c.fail(`the registry ${registry} does not answer: ${err.message}`));
  if (status[0] !== 200) c.fail(`${registry}/${repo}@${digest}: no such image in the registry (HTTP ${status[0]})`);
  if (status[1] && status[1] !== digest) c.fail(`${registry}/${repo}@${digest}: the registry answered ${status[1]}`);
}

(async () => {
  if (push) await checkRegistry();
  const dir = c.stateDir("attestations");
  const file = path.join(dir, `${fs.readdirSync(dir).length + 1}.json`);
  const record = {
    "subject-name": name,
    "subject-digest": digest,
    "push-to-registry": push,
    workflow: process.env.GITHUB_WORKFLOW || "",
    job: process.env.GITHUB_JOB || "",
    sha: process.env.GITHUB_SHA || "",
  };
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
  console.log(`stand-in: recorded the attestation of ${name}@${digest} in ${file} (nothing signed)`);
})();
