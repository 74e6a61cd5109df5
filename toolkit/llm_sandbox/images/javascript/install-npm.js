// Installs npm from the npm registry into /usr/lib/node_modules/npm, for Debian's nodejs (which has none;
// Debian's own `npm` package drags in ~390 packages). Used once at image build time:
//   node install-npm.js VERSION SHA512-INTEGRITY
// Honours npm_config_registry (default https://registry.npmjs.org), HTTPS_PROXY/https_proxy (CONNECT
// tunnel) and NODE_EXTRA_CA_CERTS. The tarball is checked against the pinned integrity before use.
"use strict";
const crypto = require("crypto");
const http = require("http");
const https = require("https");
const { execFileSync } = require("child_process");
const fs = require("fs");

const [version, integrity] = process.argv.slice(2);
const registry = (process.env.npm_config_registry || process.env.NPM_CONFIG_REGISTRY ||
  "https://registry.npmjs.org").replace(/\/+$/, "");
const proxy = process.env.HTTPS_PROXY || process.env.https_proxy || "";

function noProxy(host) {
  const list = (process.env.NO_PROXY || process.env.no_proxy || "").split(",").map((s) => s.trim());
  return list.some((e) => e && (e === "*" || host === e || host.endsWith(e.startsWith(".") ? e : "." + e)));
}

function tunnel(url) {
  // A socket to url's host through the proxy (HTTP CONNECT), or null for a direct connection.
  if (url.protocol !== "https:" || !proxy || noProxy(url.hostname)) return Promise.resolve(null);
  const p = new URL(proxy);
  const headers = {};
  if (p.username) headers["Proxy-Authorization"] = "Basic " +
    Buffer.from(decodeURIComponent(p.username) + ":" + decodeURIComponent(p.password)).toString("base64");
  return new Promise((resolve, reject) => {
    const req = http.request({ host: p.hostname, port: p.port || 80, method: "CONNECT",
      path: `${url.hostname}:${url.port || 443}`, headers });
    req.on("connect", (res, socket) => res.statusCode === 200 ? resolve(socket)
      : reject(new Error(`proxy CONNECT ${url.host}: ${res.statusCode}`)));
    req.on("error", reject);
    req.end();
  });
}

async function get(address, redirects = 5) {
  const url = new URL(address);
  const socket = await tunnel(url);
  const lib = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const options = { headers: { "user-agent": "llm-sandbox-image-build" } };
    if (socket) { options.socket = socket; options.servername = url.hostname; options.agent = false; }
    lib.get(url, options, (res) => {
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && res.headers.location && redirects > 0) {
        res.resume();
        return resolve(get(new URL(res.headers.location, url).toString(), redirects - 1));
      }
      if (res.statusCode !== 200) { res.resume(); return reject(new Error(`GET ${address}: ${res.statusCode}`)); }
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", reject);
    }).on("error", reject);
  });
}

(async () => {
  const tarball = await get(`${registry}/npm/-/npm-${version}.tgz`);
  const [algorithm, expected] = integrity.split(/-(.*)/s);
  const actual = crypto.createHash(algorithm).update(tarball).digest("base64");
  if (actual !== expected) throw new Error(`npm-${version}.tgz: integrity mismatch (${actual})`);
  const target = "/usr/lib/node_modules/npm";
  fs.mkdirSync(target, { recursive: true });
  execFileSync("tar", ["-xzf", "-", "--strip-components=1", "--no-same-owner", "-C", target], { input: tarball });
  for (const tool of ["npm", "npx"]) {
    fs.rmSync(`/usr/bin/${tool}`, { force: true });
    fs.symlinkSync(`../lib/node_modules/npm/bin/${tool}-cli.js`, `/usr/bin/${tool}`);
  }
  console.log(`installed npm ${version}`);
})().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
