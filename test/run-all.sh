#!/usr/bin/env bash
# Every check and test tier, in order of cost. Tiers run one after another so each
# stack has the machine to itself; a failing tier does not hide the results of the rest.
set -uo pipefail
cd "$(dirname "$0")/.."

npx tsc -p tsconfig.json || { echo "typecheck failed"; echo "0 passed, 1 failed"; exit 1; }
npx eslint . || { echo "lint failed"; echo "0 passed, 1 failed"; exit 1; }
# Crash tests run the real worker process from dist/.
npm run build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

results=.autocrane/test-results
rm -rf "$results" && mkdir -p "$results"
status=0
for tier in unit workflow integration; do
  echo "=== $tier tier"
  # The output is kept too: a tier that ends without results (its globalSetup or
  # globalTeardown threw, or Jest itself died) is explained in the summary at the end,
  # which is the part of a long CI log that gets read.
  npx jest --selectProjects "$tier" --json --outputFile="$results/$tier.json" 2>&1 | tee "$results/$tier.log"
  code=${PIPESTATUS[0]}
  echo "$code" > "$results/$tier.exit"
  [ "$code" = 0 ] || status=1
done

node -e '
  // Only the end of a long CI log is read: the totals come last, after what explains a failure.
  const fs = require("fs");
  const dir = process.argv[1];
  const read = (name) => (fs.existsSync(`${dir}/${name}`) ? fs.readFileSync(`${dir}/${name}`, "utf8") : "");
  let passed = 0, failed = 0;
  const lines = [], why = [];
  for (const tier of ["unit", "workflow", "integration"]) {
    if (!read(`${tier}.json`)) {
      const tail = read(`${tier}.log`).split("\n").filter((l) => l.trim()).slice(-12);
      lines.push(`${tier}: no results (Jest exited ${read(`${tier}.exit`).trim() || "?"} without writing them)`);
      why.push(`--- last lines of the ${tier} tier:`, ...tail);
      failed++;
      continue;
    }
    const r = JSON.parse(read(`${tier}.json`));
    lines.push(`${tier}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numFailedTestSuites} failed suites`);
    for (const suite of r.testResults) {
      const names = suite.assertionResults.filter((a) => a.status === "failed").map((a) => a.fullName);
      if (suite.status === "failed") why.push(`FAILED ${tier} ${suite.name.replace(process.cwd() + "/", "")}${names.length ? ": " + names.join("; ") : ": " + (suite.message || "").split("\n").find((l) => l.trim()) }`);
    }
    passed += r.numPassedTests;
    failed += r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
  }
  for (const line of [...why, ...lines, `${passed} passed, ${failed} failed`]) console.log(line);
  if (failed > 0) process.exitCode = 1;
' "$results" || status=1
exit $status
