# The README's quick-start commands. Each installs what it needs first, so both work on a fresh clone.
SHELL := /bin/bash
STACK := node dist/stack/main.js

.PHONY: run test check format up down status deps build tools

## run: start the local stack, the worker and the API in the background, print where they are, then run the rollout demo
# A second `make run` while the stack runs reuses it (a partly dead stack: `make down` first).
run: build tools
	@if $(STACK) status >/dev/null 2>&1 && ! $(STACK) status | grep -q 'not running'; then \
	  echo 'The stack is already running; reusing it (make down stops it).'; \
	else $(STACK) up --service; fi
	@source .autocrane/stack.env && printf '\nAutoCrane is running.\n  Temporal UI: %s\n  API:         %s  (token in .autocrane/stack.env)\n  Kubeconfig:  %s\n  Try:         kubectl --kubeconfig %s get nodes\n  Stop with:   make down\n' \
	  "$$AUTOCRANE_TEMPORAL_UI_URL" "$$AUTOCRANE_API_URL" "$$KUBECONFIG" "$$KUBECONFIG"
	@source .autocrane/stack.env && node dist/demo/main.js

## test: typecheck, lint, then the unit, workflow and integration tiers (each on its own fresh stack)
test: deps tools
	bash test/run-all.sh

## check: the fast loop (about 2 min): typecheck, lint (layers and workflow determinism included), formatting, unit tests
check: deps
	npx tsc -p tsconfig.json
	npx eslint .
	npx prettier --check .
	npx jest --selectProjects unit

## format: Prettier over the code (width 140, .prettierrc.json); `make check` fails on unformatted code
format: deps
	npx prettier --write .

## up / down / status: the stack with worker and API in the background; addresses in .autocrane/stack.env
up: build tools
	$(STACK) up --service

down:
	@if [ -f dist/demo/main.js ]; then node dist/demo/main.js stop; fi
	@if [ -f dist/stack/main.js ]; then $(STACK) down; fi

status:
	$(STACK) status

deps: node_modules/.install-stamp

# npm install, not npm ci: npm 11 writes lock files that hold only this platform's optional
# packages (@swc/core-*), and its own `npm ci` then rejects them as out of sync. Every
# dependency is pinned exactly in package.json, and install follows the lock.
node_modules/.install-stamp: package.json package-lock.json
	npm install --no-fund --no-audit
	@touch $@

build: deps
	npm run build

## tools: build the Go tools once (about 11 min cold on 2 cores), cached in ~/.cache/autocrane/tools
tools:
	bash stack/build-tools.sh
