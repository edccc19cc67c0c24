#!/usr/bin/env bash
# Shared pieces of scripts/deploy.sh and scripts/deploy-functions.sh (sourced, not run):
# messages, prerequisite checks, the settings file and the secrets.

# Deliberately no `set -euo pipefail`: the scripts that source this set it themselves.

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need COMMAND INSTALL_HINT
need() { command -v "$1" >/dev/null || die "$1 is required: $2"; }

# load_env_file FILE: fills ENV_ARGS with KEY=VALUE pairs (no quotes, no expansion, no secrets).
load_env_file() {
  local file="$1" line key
  ENV_ARGS=()
  [[ -f "$file" ]] || die "settings file $file not found (ENV_FILE=...)"
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%$'\r'}"
    [[ -z "${line//[[:space:]]/}" || "$line" == \#* ]] && continue
    key="${line%%=*}"
    [[ "$line" == *=* && "$key" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "$file: not KEY=VALUE: ${line%%=*}"
    [[ "$key" != SCW_* && "$key" != PORT ]] || die "$file: $key is reserved by Scaleway"
    ENV_ARGS+=("$key=${line#*=}")
  done <"$file"
}

# shellcheck disable=SC2034 # SECRETS is the caller's (declare -A SECRETS before calling).
# read_secrets NAME...: fills the associative array SECRETS with the names that have a value:
# from the environment, else (at a terminal) typed with no echo; empty = not given. Values are
# never printed.
read_secrets() {
  local name value
  SECRETS=()
  for name in "$@"; do
    [[ "$name" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "not a variable name: $name"
    value="${!name:-}"
    if [[ -z "$value" && -t 0 && -z "${CI:-}" ]]; then
      # read -p prints the prompt after turning echo off, so even typed-ahead input never shows.
      IFS= read -rs -p "$name (typing is hidden; empty = not given): " value || value=""
      printf '\n' >&2
    fi
    if [[ -n "$value" ]]; then
      SECRETS["$name"]="$value"
    fi
  done
}

# load_database_url: DATABASE_URL, unless set, from the file DATABASE_URL_FILE names (written by
# scripts/create-database.sh, mode 600). The value is never printed.
load_database_url() {
  [[ -z "${DATABASE_URL:-}" && -n "${DATABASE_URL_FILE:-}" ]] || return 0
  [[ -r "$DATABASE_URL_FILE" ]] || die "DATABASE_URL_FILE=$DATABASE_URL_FILE cannot be read (scripts/create-database.sh writes it)"
  IFS= read -r DATABASE_URL <"$DATABASE_URL_FILE" || true
  [[ "$DATABASE_URL" == postgres://* || "$DATABASE_URL" == postgresql://* ]] \
    || die "$DATABASE_URL_FILE does not hold a postgres:// URL"
}
