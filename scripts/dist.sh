#!/usr/bin/env bash
# make dist: a release tarball for one target and the SHA256SUMS of every
# tarball of this version in the output folder.
#
#   DIST_TARGET  Rust target triple (default: this machine's)
#   DIST_DIR     output folder (default: target/dist)
#   DIST_GLIBC   glibc baseline of a *-linux-gnu build (default 2.17): the
#                binary is linked by zig against that version's symbols, so
#                it runs on every distribution since (RHEL/CentOS 7, Debian 8,
#                Ubuntu 14.04) and needs cargo-zigbuild and zig on PATH
#   DIST_DOCS_BIN  a stagerun of the same version that runs here, for the man
#                pages and completions when the target's binary cannot run on
#                this machine (a cross build); default: build one
#
# Writes DIST_DIR/stagerun-VERSION-TARGET.tar.gz, holding one folder of the
# same name with stagerun, man/*.1, completions/ (bash, zsh, fish), LICENSE and
# README.md, and DIST_DIR/SHA256SUMS (`sha256sum -c` format). The tarball is
# reproducible with GNU tar: sorted names, owner 0, mtime of the last commit.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "dist: $*" >&2; exit 1; }

cargo="${CARGO:-cargo}"
host="$(rustc -vV | sed -n 's/^host: //p')"
target="${DIST_TARGET:-$host}"
dist_dir="${DIST_DIR:-target/dist}"
glibc="${DIST_GLIBC:-2.17}"
# `cargo pkgid` prints …#stagerun@0.2.0 (or …#0.2.0 from older cargo).
version="$("$cargo" pkgid --offline 2>/dev/null || "$cargo" pkgid)"
version="${version##*[#@]}"
case "$version" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) die "cannot read the package version from cargo pkgid ($version)" ;;
esac
name="stagerun-$version-$target"

case "$target" in
  *-linux-gnu*)
    command -v cargo-zigbuild >/dev/null ||
      die "cargo-zigbuild is not on PATH (python3 -m pip install ziglang cargo-zigbuild), needed for the glibc $glibc baseline"
    build=("$cargo" zigbuild --release --locked --target "$target.$glibc")
    ;;
  *-linux-musl*)
    command -v cargo-zigbuild >/dev/null || die "cargo-zigbuild is not on PATH (python3 -m pip install ziglang cargo-zigbuild)"
    build=("$cargo" zigbuild --release --locked --target "$target")
    ;;
  *) build=("$cargo" build --release --locked --target "$target") ;;
esac
echo "dist: $name: ${build[*]}"
"${build[@]}"

target_dir="${CARGO_TARGET_DIR:-target}"
bin="$target_dir/$target/release/stagerun"
[ -x "$bin" ] || die "the build succeeded but $bin is missing"

# Man pages and completions come from the binary itself; a cross-built one
# cannot run here, so a native build of the same source writes them.
docs_bin="${DIST_DOCS_BIN:-}"
if [ -z "$docs_bin" ]; then
  if "$bin" --version >/dev/null 2>&1; then
    docs_bin="$bin"
  else
    echo "dist: $bin does not run on $host: the man pages come from a native build"
    "$cargo" build --release --locked
    docs_bin="$target_dir/release/stagerun"
  fi
fi
[ "$("$docs_bin" --version)" = "stagerun $version" ] ||
  die "$docs_bin is not stagerun $version: $("$docs_bin" --version 2>&1 || true)"

mkdir -p "$dist_dir"
stage="$dist_dir/$name"
rm -rf "$stage" "$dist_dir/$name.tar.gz"
mkdir -p "$stage/man" "$stage/completions"
cp "$bin" "$stage/stagerun"
chmod 755 "$stage/stagerun"
cp LICENSE README.md "$stage/"
"$docs_bin" man --dir "$stage/man"
"$docs_bin" completions bash >"$stage/completions/stagerun.bash"
"$docs_bin" completions zsh >"$stage/completions/_stagerun"
"$docs_bin" completions fish >"$stage/completions/stagerun.fish"
find "$stage" -type d -exec chmod 755 {} +
find "$stage" -type f ! -name stagerun -exec chmod 644 {} +

tar_cmd=tar
command -v gtar >/dev/null && tar_cmd=gtar # macOS: GNU tar, if installed, for the reproducible flags
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
if "$tar_cmd" --version 2>/dev/null | grep -q 'GNU tar'; then
  "$tar_cmd" -C "$dist_dir" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@$epoch" --format=ustar -cf - "$name" | gzip -9n >"$dist_dir/$name.tar.gz"
else
  "$tar_cmd" -C "$dist_dir" -cf - "$name" | gzip -9n >"$dist_dir/$name.tar.gz"
fi
rm -rf "$stage"

sha256() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
(
  cd "$dist_dir"
  shopt -s nullglob
  tarballs=(stagerun-"$version"-*.tar.gz)
  sha256 "${tarballs[@]}" >SHA256SUMS.tmp
  mv SHA256SUMS.tmp SHA256SUMS
)
echo "dist: wrote $dist_dir/$name.tar.gz"
sed 's/^/dist:   /' "$dist_dir/SHA256SUMS"
