#!/usr/bin/env bash
# The GitHub Action's install step (action.yml runs it with bash): finds,
# downloads or builds stagerun, and writes bin=… and source=… to
# $GITHUB_OUTPUT. Every input arrives through the environment:
#
#   STAGERUN_INSTALL       auto | release | build | path
#   STAGERUN_VERSION       release version; empty: the action's own (its Cargo.toml)
#   STAGERUN_DOWNLOAD_URL  base URL of the releases, holding v<version>/<file>;
#                          empty: $GITHUB_SERVER_URL/<the action's repository>/releases/download
#   STAGERUN_ACTION_REPOSITORY  owner/name of the action (github.action_repository)
#
# auto:    stagerun on PATH, else the release (tool cache or download), else
#          a build of the action's checkout with cargo
# release: the release only (tool cache or download); never PATH, never a build
# build:   always build; path: PATH only
#
# A release is used only after its tarball matched its line in the release's
# SHA256SUMS. "Not available" (no SHA256SUMS at that URL, no line for this
# platform, no release build for this OS) lets auto go on to the build; a
# tarball that is listed but cannot be downloaded, a checksum mismatch or a
# binary that does not say it is stagerun <version> fails the step in every
# mode: nothing unverified runs, and a tampered release is not hidden by a build.
set -euo pipefail

mode="${STAGERUN_INSTALL:-auto}"
action_path="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
out="${GITHUB_OUTPUT:-/dev/null}"

error() { echo "::error title=stagerun install::$*"; }
# Exit code 3 of a function below: the release is not available (auto may build).
not_available() { echo "::warning title=stagerun install::$*"; return 3; }

use_bin() { # use_bin BIN SOURCE [DIR_FOR_GITHUB_PATH]
  {
    echo "bin=$1"
    echo "source=$2"
  } >>"$out"
  if [ -n "${3:-}" ] && [ -n "${GITHUB_PATH:-}" ]; then echo "$3" >>"$GITHUB_PATH"; fi
  echo "stagerun ($2): $1 ($("$1" --version))"
}

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

action_version() {
  # The first version = "…" of Cargo.toml's [package] table.
  awk '/^\[/ { pkg = ($0 == "[package]") } pkg && /^version[ \t]*=/ { gsub(/^version[ \t]*=[ \t]*"|"[ \t]*$/, ""); print; exit }' \
    "$action_path/Cargo.toml" 2>/dev/null || true
}

# The Rust target of this runner, as in the release tarballs' names.
runner_target() {
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) echo x86_64-unknown-linux-gnu ;;
    Linux/aarch64 | Linux/arm64) echo aarch64-unknown-linux-gnu ;;
    Darwin/arm64 | Darwin/aarch64) echo aarch64-apple-darwin ;;
    *) return 1 ;;
  esac
}

# curl's protocol for a base URL: https anywhere, http only to loopback
# (127.0.0.0/8, [::1], localhost), for a mirror on the runner itself.
url_proto() {
  case "$1" in
    https://*) echo https; return 0 ;;
    http://*) ;;
    *) return 1 ;;
  esac
  local authority="${1#http://}"
  authority="${authority%%/*}"
  authority="${authority##*@}"
  if [[ "$authority" =~ ^(localhost|\[::1\]|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})(:[0-9]+)?$ ]]; then
    echo http
  else
    return 1
  fi
}

fetch() { # fetch URL FILE PROTO: one file, bounded in time, redirects kept on PROTO
  curl --fail --silent --show-error --location --proto "=$3" --proto-redir "=$3" \
    --connect-timeout 10 --max-time 300 --retry 2 --retry-delay 1 -o "$2" "$1"
}

from_cache() { # from_cache DIR: the cached binary if it is complete and intact
  local dir="$1"
  [ -f "$dir.complete" ] && [ -x "$dir/stagerun" ] && [ -f "$dir/stagerun.sha256" ] || return 1
  if [ "$(sha256_of "$dir/stagerun")" != "$(cat "$dir/stagerun.sha256")" ]; then
    echo "::warning title=stagerun install::the cached $dir/stagerun does not match its recorded checksum: downloading it again"
    rm -rf "$dir" "$dir.complete"
    return 1
  fi
}

install_release() {
  local version="${STAGERUN_VERSION:-$(action_version)}"
  if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
    error "release version '$version' is not a version (input 'version', or the version in $action_path/Cargo.toml)"
    return 2
  fi
  local target
  target="$(runner_target)" || { not_available "no stagerun release is built for $(uname -s) $(uname -m)"; return; }
  local arch
  case "$target" in x86_64-*) arch=x64 ;; *) arch=arm64 ;; esac

  # The tool cache layout of @actions/tool-cache: <root>/<tool>/<version>/<arch>
  # and a <arch>.complete marker written last.
  local cache_root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}/stagerun-tool-cache}"
  local dir="$cache_root/stagerun/$version/$arch"
  if from_cache "$dir"; then
    use_bin "$dir/stagerun" cache "$dir"
    return 0
  fi

  local base="${STAGERUN_DOWNLOAD_URL:-}"
  if [ -z "$base" ]; then
    if [ -z "${STAGERUN_ACTION_REPOSITORY:-}" ]; then
      not_available "the action's repository is unknown (a local 'uses: ./'?): set the input 'download-url' to download a release"
      return
    fi
    base="${GITHUB_SERVER_URL:-https://github.com}/$STAGERUN_ACTION_REPOSITORY/releases/download"
  fi
  base="${base%/}"
  local proto
  if ! proto="$(url_proto "$base")"; then
    error "download-url '$base' must be https:// (plain http:// only to a loopback address)"
    return 2
  fi
  command -v curl >/dev/null || { not_available "curl is not installed: cannot download the release"; return; }
  command -v tar >/dev/null || { not_available "tar is not installed: cannot unpack the release"; return; }

  local name="stagerun-$version-$target"
  local url="$base/v$version"
  # install_release runs in a subshell of its own: this trap is its exit.
  tmp="$(mktemp -d "${RUNNER_TEMP:-/tmp}/stagerun-release.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT

  local err
  if ! err="$(fetch "$url/SHA256SUMS" "$tmp/SHA256SUMS" "$proto" 2>&1)"; then
    not_available "no stagerun $version release at $url (SHA256SUMS: ${err//$'\n'/ })"
    return
  fi
  local expected
  expected="$(awk -v f="$name.tar.gz" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")"
  if [ -z "$expected" ]; then
    not_available "the stagerun $version release at $url has no $name.tar.gz (not in its SHA256SUMS)"
    return
  fi
  if ! [[ "$expected" =~ ^[0-9a-f]{64}$ ]]; then
    error "$url/SHA256SUMS has no single SHA-256 for $name.tar.gz: refusing the release"
    return 1
  fi
  if ! err="$(fetch "$url/$name.tar.gz" "$tmp/$name.tar.gz" "$proto" 2>&1)"; then
    error "$url/$name.tar.gz is listed in SHA256SUMS but could not be downloaded (${err//$'\n'/ }): refusing the release"
    return 1
  fi
  local actual
  actual="$(sha256_of "$tmp/$name.tar.gz")"
  if [ "$actual" != "$expected" ]; then
    error "checksum mismatch for $url/$name.tar.gz: SHA256SUMS says $expected, the download is $actual. Refusing to run it (a tampered or corrupted release)"
    return 1
  fi
  echo "verified $name.tar.gz: sha256 $actual (from $url/SHA256SUMS)"

  mkdir "$tmp/x"
  if ! tar -xzf "$tmp/$name.tar.gz" -C "$tmp/x" --no-same-owner "$name/stagerun"; then
    error "the verified $name.tar.gz has no $name/stagerun: refusing it"
    return 1
  fi
  local got
  if [ ! -f "$tmp/x/$name/stagerun" ] || ! got="$("$tmp/x/$name/stagerun" --version 2>&1)" || [ "$got" != "stagerun $version" ]; then
    error "the verified $name.tar.gz holds no working stagerun $version (it says: ${got:-nothing}): refusing it"
    return 1
  fi

  rm -rf "$dir" "$dir.complete"
  mkdir -p "$dir"
  cp "$tmp/x/$name/stagerun" "$dir/stagerun"
  chmod 755 "$dir/stagerun"
  sha256_of "$dir/stagerun" >"$dir/stagerun.sha256"
  touch "$dir.complete"
  use_bin "$dir/stagerun" release "$dir"
}

build_from_source() {
  if ! command -v cargo >/dev/null; then
    error "stagerun is not on PATH, no release was available, and cargo is missing: install a Rust toolchain or stagerun first, or use a released version of the action"
    return 1
  fi
  cargo build --release --locked --manifest-path "$action_path/Cargo.toml"
  local target_dir="${CARGO_TARGET_DIR:-$action_path/target}"
  case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
  local bin="$target_dir/release/stagerun"
  if [ ! -x "$bin" ]; then
    error "cargo build succeeded but $bin is missing"
    return 1
  fi
  use_bin "$bin" build "$target_dir/release"
}

case "$mode" in
  auto | path)
    if bin="$(command -v stagerun)"; then
      use_bin "$bin" path
      exit 0
    fi
    if [ "$mode" = path ]; then
      error "install is 'path' but stagerun is not on PATH"
      exit 1
    fi
    ;;
  release | build) ;;
  *)
    error "input 'install' must be auto, release, build or path"
    exit 2
    ;;
esac

if [ "$mode" = auto ] || [ "$mode" = release ]; then
  # A subshell with errexit on: `install_release || …` would turn errexit off
  # inside it, and a failed step must never go on to mark the cache complete.
  set +e
  (
    set -e
    install_release
  )
  rc=$?
  set -e
  case "$rc" in
    0) exit 0 ;;
    3)
      if [ "$mode" = release ]; then
        error "install is 'release' and no verified release could be installed (see the warning above); it never builds"
        exit 1
      fi
      echo "no release available: building stagerun from the action's source"
      ;;
    *) exit "$rc" ;;
  esac
fi
build_from_source
