#!/usr/bin/env bash
# Builds the Go tools the local stack runs (temporal, etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) from their Go modules and caches
# each under $AUTOCRANE_CACHE/tools/<name>-<version>/, so a second run is a no-op.
# Nothing built here is ever written inside the repository.
#
# Usage: stack/build-tools.sh            build whatever is missing
#        stack/build-tools.sh --print    print the bin directories (one per line)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"

cache="${AUTOCRANE_CACHE:-$HOME/.cache/autocrane}"
tools="$cache/tools"
mkdir -p "$tools"

temporal_dir="$tools/temporal-$TEMPORAL_CLI_VERSION"
etcd_dir="$tools/etcd-$ETCD_VERSION"
k8s_dir="$tools/kubernetes-$KUBERNETES_VERSION"
kwok_dir="$tools/kwok-$KWOK_VERSION"

if [[ "${1:-}" == "--print" ]]; then
  printf '%s\n' "$temporal_dir/bin" "$etcd_dir/bin" "$k8s_dir/bin" "$kwok_dir/bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-tools: the go toolchain is not on PATH" >&2; exit 1; }

log() { printf '[build-tools %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Each tool is built into a temporary directory and renamed into place, so an
# interrupted build never leaves a half-populated cache entry behind.
finish() { # finish <tmpdir> <final dir>
  rm -rf "$2"
  mv "$1" "$2"
}

build_temporal() {
  [[ -x "$temporal_dir/bin/temporal" ]] && return 0
  log "building temporal CLI $TEMPORAL_CLI_VERSION"
  local tmp; tmp="$(mktemp -d "$tools/.temporal.XXXX")"
  GOBIN="$tmp/bin" CGO_ENABLED=0 go install \
    -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION#v}" \
    "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
  finish "$tmp" "$temporal_dir"
}

build_kwok() {
  [[ -x "$kwok_dir/bin/kwok" ]] && return 0
  log "building kwok $KWOK_VERSION"
  local tmp; tmp="$(mktemp -d "$tools/.kwok.XXXX")"
  GOBIN="$tmp/bin" CGO_ENABLED=0 go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  finish "$tmp" "$kwok_dir"
}

# etcd's server module carries relative replace directives, so `go install` of it
# is refused; a throwaway wrapper module that depends on it is not subject to them.
build_etcd() {
  [[ -x "$etcd_dir/bin/etcd" ]] && return 0
  log "building etcd $ETCD_VERSION"
  local tmp; tmp="$(mktemp -d "$tools/.etcd.XXXX")"
  local mod="$tmp/src"
  mkdir -p "$mod" "$tmp/bin"
  cat >"$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$mod"
    go mod init autocrane.local/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
    go mod tidy >/dev/null
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/bin/etcd" .
  )
  rm -rf "$mod"
  finish "$tmp" "$etcd_dir"
}

# k8s.io/kubernetes replaces every staging module with ./staging/src/...; the
# wrapper maps each of those to the published k8s.io/<name> v0.<minor>.<patch>.
build_kubernetes() {
  if [[ -x "$k8s_dir/bin/kube-apiserver" && -x "$k8s_dir/bin/kube-controller-manager" && -x "$k8s_dir/bin/kube-scheduler" ]]; then
    return 0
  fi
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $KUBERNETES_VERSION"
  local tmp; tmp="$(mktemp -d "$tools/.kubernetes.XXXX")"
  local mod="$tmp/src"
  mkdir -p "$mod" "$tmp/bin"
  local staging="v0.${KUBERNETES_VERSION#v1.}"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [[ -f "$gomod" ]] || { echo "build-tools: could not download k8s.io/kubernetes@$KUBERNETES_VERSION" >&2; exit 1; }
  {
    echo "module autocrane.local/kubernetes"
    echo
    grep -E '^go [0-9]' "$gomod"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    # Lines look like "	k8s.io/api => ./staging/src/k8s.io/api" inside a replace block.
    grep -E '=> \./staging/src/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >"$mod/go.mod"
  local major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
  local minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (
    cd "$mod"
    GOFLAGS=-mod=mod go mod download k8s.io/kubernetes
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler
  )
  rm -rf "$mod"
  finish "$tmp" "$k8s_dir"
}

# Several checkouts on one machine (worktrees, a developer's and CI's) share the cache: one
# build at a time, the others wait and then find the tools built, instead of compiling the
# same packages side by side on two cores.
exec 9>"$tools/.build.lock"
if ! flock -n 9; then
  log "another build of the tools is running; waiting for it"
  flock 9
fi

start=$SECONDS
build_temporal
build_etcd
build_kwok
build_kubernetes
log "all tools present ($((SECONDS - start)) s)"
