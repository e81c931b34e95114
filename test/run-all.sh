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
  npx jest --selectProjects "$tier" --json --outputFile="$results/$tier.json" || status=1
done

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0;
  for (const tier of ["unit", "workflow", "integration"]) {
    const file = process.argv[1] + "/" + tier + ".json";
    if (!fs.existsSync(file)) { console.log(tier + ": no results (the tier did not run)"); failed++; continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    console.log(`${tier}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numFailedTestSuites} failed suites`);
    passed += r.numPassedTests;
    failed += r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
  }
  console.log(`${passed} passed, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
' "$results" || status=1
exit $status
