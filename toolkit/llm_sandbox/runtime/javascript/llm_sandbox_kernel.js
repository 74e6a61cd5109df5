// The JavaScript kernel of InteractiveSandboxSession: cells run in one `vm` context, state kept between them.
//
// Started as a warm process (see runtime/python/llm_sandbox_warm.py for the wire protocol):
//   sh -c 'exec 3<&0 0</dev/null; exec "$@"' llm-sandbox node /opt/llm-sandbox/llm_sandbox_kernel.js
// Requests `<size>\n<json>` arrive on fd 3; output streams on stdout/stderr as the cell prints it; the
// answer is `<nonce> <code> <size>\n<json>` on stdout and `<nonce> \n` on stderr.
//
// A cell is rewritten (with acorn, installed beside this file) so that it can be run again and again in
// one context, as in a notebook: top-level `let`, `const`, `class` and functions become context-wide
// bindings that a later cell may use or declare again; top-level `await` works (the cell is then an
// async function, its declarations hoisted out of it); the last expression's value is the cell's result.
// Line numbers in errors are the cell's own.
"use strict";
const fs = require("fs");
const net = require("net");
const util = require("util");
const vm = require("vm");
const { createRequire } = require("module");
const acorn = require("acorn");

const REQUESTS_FD = 3;
const ARTIFACTS_SH = process.argv[3] || ""; // runtime/artifacts.sh: the output files of a cell
const { execFileSync } = require("child_process");
let executionCount = 0;
let interrupt = null; // rejects the running cell's wait on SIGINT

// The context: a fresh realm with Node's own globals (console, process, timers, Buffer...) but its own
// intrinsics, so `[] instanceof Array` holds for the cell's values.
const intrinsics = new Set(Object.getOwnPropertyNames(vm.runInNewContext("globalThis")));
const sandbox = {};
for (const name of Object.getOwnPropertyNames(globalThis)) {
  if (!intrinsics.has(name) && name !== "globalThis") {
    Object.defineProperty(sandbox, name, Object.getOwnPropertyDescriptor(globalThis, name));
  }
}
sandbox.console = console; // every context has V8's own console, which prints nowhere
sandbox.require = createRequire(process.cwd() + "/");
sandbox.module = { exports: {} };
sandbox.exports = sandbox.module.exports;
sandbox.__dirname = process.cwd();
sandbox.__filename = process.cwd() + "/[cell]";
let results = [];
sandbox.display = (value) => {
  results.push({ type: "display_data", data: bundle(value), metadata: {} });
};
const context = vm.createContext(sandbox);

function bundle(value) {
  const data = { "text/plain": util.inspect(value, { depth: 6, colors: false }) };
  if (value !== null && typeof value === "object") {
    try {
      data["application/json"] = JSON.parse(JSON.stringify(value));
    } catch (error) {
      // not JSON: text only
    }
  }
  return data;
}

function writeAll(fd, data) {
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(fd, data, offset);
}

function reply(nonce, code, payload) {
  const body = Buffer.from(payload);
  writeAll(1, Buffer.concat([Buffer.from(`${nonce} ${code} ${body.length}\n`), body]));
  writeAll(2, Buffer.from(`${nonce} \n`));
}

// Rewrites a cell (see the header); returns the source to run and whether it is asynchronous.
function rewrite(code) {
  const tree = acorn.parse(code, {
    ecmaVersion: "latest", sourceType: "script", allowAwaitOutsideFunction: true, allowHashBang: true,
  });
  const edits = []; // [start, end, text], applied from the end
  const hoisted = [];
  let awaits = false;
  (function walk(node, depth) {
    if (!node || typeof node.type !== "string") return;
    if (node.type === "AwaitExpression" || (node.type === "ForOfStatement" && node.await)) {
      if (depth === 0) awaits = true;
    }
    const nested = depth + (/Function/.test(node.type) || node.type === "ClassBody" ? 1 : 0);
    for (const key of Object.keys(node)) {
      const child = node[key];
      if (Array.isArray(child)) child.forEach((item) => walk(item, nested));
      else if (child && typeof child.type === "string") walk(child, nested);
    }
  })(tree, 0);
  for (const statement of tree.body) {
    if (statement.type === "VariableDeclaration") {
      if (awaits) {
        for (const declaration of statement.declarations) collectNames(declaration.id, hoisted);
        edits.push([statement.start, statement.start + statement.kind.length, ";("]);
        edits.push([statement.end, statement.end, ")"]);
        if (code[statement.end - 1] === ";") edits[edits.length - 1] = [statement.end - 1, statement.end - 1, ")"];
      } else {
        edits.push([statement.start, statement.start + statement.kind.length, "var"]);
      }
    } else if (statement.type === "ClassDeclaration") {
      const name = statement.id.name;
      if (awaits) hoisted.push(name);
      edits.push([statement.start, statement.start, `${awaits ? "" : "var "}${name} = `]);
    } else if (statement.type === "FunctionDeclaration" && awaits) {
      hoisted.push(statement.id.name);
      edits.push([statement.start, statement.start, `${statement.id.name} = `]);
    }
  }
  const last = tree.body[tree.body.length - 1];
  if (awaits && last && last.type === "ExpressionStatement") {
    edits.push([last.start, last.start, "return ("]);
    edits.push([last.expression.end, last.expression.end, ")"]);
  }
  let source = code;
  for (const [start, end, text] of edits.sort((a, b) => b[0] - a[0] || b[1] - a[1])) {
    source = source.slice(0, start) + text + source.slice(end);
  }
  if (awaits) {
    // One line of prefix, on the cell's first line: line numbers stay the cell's own.
    const declared = hoisted.length ? `var ${[...new Set(hoisted)].join(", ")}; ` : "";
    source = `${declared}(async () => { ${source}\n})()`;
  }
  return { source, awaits };
}

// Destructuring (`const { a, b: [c] } = x`) declares several names.
function collectNames(pattern, names) {
  if (!pattern) return;
  if (pattern.type === "Identifier") names.push(pattern.name);
  else if (pattern.type === "ObjectPattern") pattern.properties.forEach((p) => collectNames(p.value || p.argument, names));
  else if (pattern.type === "ArrayPattern") pattern.elements.forEach((e) => collectNames(e, names));
  else if (pattern.type === "RestElement") collectNames(pattern.argument, names);
  else if (pattern.type === "AssignmentPattern") collectNames(pattern.left, names);
}

// An error as node prints an uncaught one, without the kernel's own frames.
function describe(error, code, filename) {
  if (error instanceof SyntaxError && error.loc) { // from acorn: where, as node shows it
    const line = code.split("\n")[error.loc.line - 1] || "";
    const message = error.message.replace(/ \(\d+:\d+\)$/, "");
    return `${filename}:${error.loc.line}\n${line}\n${" ".repeat(error.loc.column)}^\n\nSyntaxError: ${message}\n`;
  }
  if (!error || !error.stack) return `Uncaught ${util.inspect(error)}\n`;
  const lines = String(error.stack).split("\n");
  const kernel = lines.findIndex((line) => / \(?node:vm:|llm_sandbox_kernel\.js/.test(line));
  return `${(kernel > 0 ? lines.slice(0, kernel) : lines).join("\n")}\n`;
}

function artifacts(mode, request) {
  const limit = String(request.max_file_bytes || 10485760);
  execFileSync("sh", ["-c", ARTIFACTS_SH, "llm-sandbox", mode, request.run_dir, request.outputs, limit], {
    stdio: "ignore",
  });
}

async function execute(request) {
  executionCount += 1;
  results = [];
  if (request.outputs) {
    fs.mkdirSync(request.run_dir, { recursive: true, mode: 0o700 });
    artifacts("before", request);
  }
  const filename = `cell[${executionCount}]`;
  let value;
  let error = null;
  try {
    const { source, awaits } = rewrite(request.code);
    const script = new vm.Script(source, { filename });
    value = script.runInContext(context, { breakOnSigint: true, displayErrors: false });
    if (awaits) {
      value = await Promise.race([value, new Promise((_, reject) => { interrupt = reject; })]);
    }
    if (value !== undefined) {
      results.push({ type: "execute_result", data: bundle(value), metadata: {}, execution_count: executionCount });
    }
  } catch (caught) {
    error = caught;
    process.stderr.write(describe(caught, request.code, filename));
  } finally {
    interrupt = null;
  }
  let files = "";
  if (request.outputs) {
    artifacts("after", request);
    files = fs.readFileSync(`${request.run_dir}/artifacts.tar`).toString("base64");
    fs.rmSync(request.run_dir, { recursive: true, force: true });
  }
  const document = {
    status: error ? "error" : "ok",
    execution_count: executionCount,
    results,
    plots: [],
    files,
    error: error ? { name: (error && error.name) || "Error", value: String((error && error.message) || error) } : null,
  };
  return [error ? 1 : 0, JSON.stringify(document)];
}

// SIGINT interrupts a synchronous cell through breakOnSigint; here it ends the wait of an async one
// (the work it started goes on, as a notebook's would) and is otherwise ignored: never the kernel.
process.on("SIGINT", () => {
  if (interrupt) interrupt(Object.assign(new Error("the cell was interrupted"), { name: "KeyboardInterrupt" }));
});
process.on("unhandledRejection", (reason) => {
  process.stderr.write(`Unhandled promise rejection: ${reason && reason.stack ? reason.stack : reason}\n`);
});
process.on("uncaughtException", (caught) => {
  process.stderr.write(`Uncaught exception: ${caught && caught.stack ? caught.stack : caught}\n`);
});

async function serve() {
  // A libuv stream, not fs.createReadStream: a blocking read in the thread pool would keep
  // process.exit() waiting for as long as the host keeps the requests open.
  const input = new net.Socket({ fd: REQUESTS_FD, readable: true, writable: false });
  let buffer = Buffer.alloc(0);
  let queue = Promise.resolve();
  input.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const newline = buffer.indexOf(10);
      if (newline < 0) return;
      const size = Number(buffer.subarray(0, newline).toString());
      if (buffer.length < newline + 1 + size) return;
      const request = JSON.parse(buffer.subarray(newline + 1, newline + 1 + size).toString());
      buffer = buffer.subarray(newline + 1 + size);
      queue = queue.then(() => handle(request));
    }
  });
  input.on("end", () => queue.then(() => process.exit(0)));
}

async function handle(request) {
  if (request.op === "hello") return reply(request.nonce, 0, String(process.pid));
  if (request.op === "execute") {
    const [code, payload] = await execute(request);
    return reply(request.nonce, code, payload);
  }
  return reply(request.nonce, 2, JSON.stringify({ error: `unknown request ${request.op}` }));
}

serve();
