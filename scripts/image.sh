#!/usr/bin/env bash
# make image: the image of ./Dockerfile, with the stagerun of verified release
# tarballs.
#
#   DIST_DIR       the tarballs and their SHA256SUMS (default target/dist:
#                  `make dist`, or the files of a release downloaded there)
#   IMAGE          the tag (default stagerun:VERSION)
#   IMAGE_BASE     the base image (build-arg BASE_IMAGE; default the Dockerfile's)
#   IMAGE_CONTEXT  the build context folder (default target/image)
#   IMAGE_BUILD=0  only lay out the context, e.g. for a multi-platform
#                  `docker buildx build --platform linux/amd64,linux/arm64 --push`
#
# The context holds linux/amd64/stagerun and/or linux/arm64/stagerun, each
# from a Linux tarball of this version whose SHA-256 matched SHA256SUMS.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "image: $*" >&2; exit 1; }

dist_dir="${DIST_DIR:-target/dist}"
ctx="${IMAGE_CONTEXT:-target/image}"
version="$(cargo pkgid --offline 2>/dev/null || cargo pkgid)"
version="${version##*[#@]}"
image="${IMAGE:-stagerun:$version}"
[ -f "$dist_dir/SHA256SUMS" ] || die "no $dist_dir/SHA256SUMS: run make dist, or download a release there"

sha256() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }

rm -rf "$ctx"
mkdir -p "$ctx"
found=0
for pair in x86_64-unknown-linux-gnu:linux/amd64 aarch64-unknown-linux-gnu:linux/arm64; do
  target="${pair%%:*}" platform="${pair#*:}"
  name="stagerun-$version-$target"
  [ -f "$dist_dir/$name.tar.gz" ] || continue
  line="$(awk -v f="$name.tar.gz" '$2 == f || $2 == "*" f' "$dist_dir/SHA256SUMS")"
  [ -n "$line" ] || die "$name.tar.gz is not in $dist_dir/SHA256SUMS"
  (cd "$dist_dir" && printf '%s\n' "$line" | sha256 -c -) || die "$dist_dir/$name.tar.gz does not match SHA256SUMS"
  mkdir -p "$ctx/$platform"
  tar -xzf "$dist_dir/$name.tar.gz" -C "$ctx/$platform" --strip-components=1 "$name/stagerun"
  found=$((found + 1))
done
[ "$found" -gt 0 ] || die "no Linux tarball of stagerun $version in $dist_dir"
echo "image: context $ctx: $(cd "$ctx" && find . -name stagerun | sort | tr '\n' ' ')"

[ "${IMAGE_BUILD:-1}" = 0 ] && exit 0
build=(docker build -f Dockerfile -t "$image" --build-arg "VERSION=$version")
if [ -n "${IMAGE_BASE:-}" ]; then build+=(--build-arg "BASE_IMAGE=$IMAGE_BASE"); fi
echo "image: ${build[*]} $ctx"
"${build[@]}" "$ctx"
echo "image: built $image"
