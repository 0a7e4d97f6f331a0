# shellcheck shell=bash disable=SC2154 # res, last_ws, base, tmp_root, release_dir: set by action-steps.sh
# Sourced by tests/ci/action-steps.sh --release DIST_DIR: the action's install
# step against a real HTTP server on loopback serving what `make dist` wrote.
# Uses the harness's scenario/check/expect, $tmp_root, $release_dir, $with.
#   /gh/owner/stagerun/releases/download/vV/  the release, at the default URL
#                                             (GITHUB_SERVER_URL + github.action_repository)
#   /mirror/vV/      the same files, for the download-url input
#   /tampered/vV/    a tarball whose stagerun was replaced, the original SHA256SUMS
#   /partial/vV/     SHA256SUMS only: the tarball it lists is missing
#   /elsewhere/vV/   SHA256SUMS listing another platform only
#   /missing/        no release at all
version="$(awk '/^\[/ { p = ($0 == "[package]") } p && /^version/ { gsub(/.*= *"|"/, ""); print; exit }' "$PROJECT/Cargo.toml")"
case "$(uname -m)" in
  x86_64) target=x86_64-unknown-linux-gnu arch=x64 ;;
  aarch64) target=aarch64-unknown-linux-gnu arch=arm64 ;;
  *) echo "no release target for $(uname -m)" >&2; exit 2 ;;
esac
tarball="stagerun-$version-$target.tar.gz"
if [ ! -f "$release_dir/$tarball" ] || [ ! -f "$release_dir/SHA256SUMS" ]; then
  echo "no $tarball and SHA256SUMS in $release_dir (make dist)" >&2
  exit 2
fi

www="$tmp_root/www"
rel="$www/gh/owner/stagerun/releases/download/v$version"
mkdir -p "$rel" "$www/mirror/v$version" "$www/tampered/v$version" "$www/partial/v$version" \
  "$www/elsewhere/v$version" "$www/missing"
cp "$release_dir/$tarball" "$release_dir/SHA256SUMS" "$rel/"
cp "$release_dir/$tarball" "$release_dir/SHA256SUMS" "$www/mirror/v$version/"
cp "$release_dir/SHA256SUMS" "$www/partial/v$version/"
sed "s/$target/riscv64gc-unknown-linux-gnu/" "$release_dir/SHA256SUMS" >"$www/elsewhere/v$version/SHA256SUMS"

# The tampered stagerun says the right version, so only the checksum can stop
# it, and it leaves a mark if anything ever runs it.
ran_mark="$tmp_root/TAMPERED-BINARY-RAN"
t="$tmp_root/tamper"
mkdir -p "$t"
tar -xzf "$release_dir/$tarball" -C "$t"
printf '#!/bin/sh\ntouch %s\necho "stagerun %s"\n' "$ran_mark" "$version" >"$t/stagerun-$version-$target/stagerun"
tar -C "$t" -czf "$www/tampered/v$version/$tarball" "stagerun-$version-$target"
cp "$release_dir/SHA256SUMS" "$www/tampered/v$version/"

cat >"$tmp_root/serve.py" <<'PY'
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$tmp_root/serve.py" "$www" >"$tmp_root/port" 2>"$tmp_root/requests.log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; rm -rf "$tmp_root"' EXIT
for _ in $(seq 100); do [ -s "$tmp_root/port" ] && break; sleep 0.1; done
port="$(cat "$tmp_root/port")"
[ -n "$port" ] || { echo "the loopback HTTP server did not start" >&2; exit 2; }
srv="http://127.0.0.1:$port"
echo "release $tarball served on $srv"
requests() { grep -c '"GET ' "$tmp_root/requests.log" || true; }

# No stagerun on PATH; cargo is (alone, not its folder, which may hold a
# cargo-installed stagerun), so that a wrong build fallback would show.
mkdir -p "$tmp_root/cargo-bin"
for tool in cargo rustc rustup; do
  if command -v "$tool" >/dev/null; then ln -s "$(command -v "$tool")" "$tmp_root/cargo-bin/$tool"; fi
done
nopath="$tmp_root/cargo-bin:/usr/bin:/bin"
cached="$tmp_root/tool-cache/stagerun/$version/$arch"

scenario "auto: not on PATH, the release from the default URL, verified" "$base" STAGING_CHECK_SCENARIO=pass \
  PATH="$nopath" ACTION_REPOSITORY=owner/stagerun GITHUB_SERVER_URL="$srv/gh" RUNNER_TOOL_CACHE="$tmp_root/tool-cache"
check "installed from the release into the tool cache" ".steps.install.outputs.source == \"release\" and .steps.install.outputs.bin == \"$cached/stagerun\"" "$res"
check "the run used it: verdict SUCCESS" '.action_outputs.verdict == "SUCCESS" and .steps.run.outcome == "success"' "$res"
expect "checked against SHA256SUMS before it ran" grep -q "verified $tarball: sha256 " "$last_ws/.harness/step0.stdout"
expect "the tool cache entry is marked complete" test -f "$cached.complete"
expect "the cached binary is the tarball's, byte for byte" cmp -s "$cached/stagerun" \
  <(tar -xzOf "$release_dir/$tarball" "stagerun-$version-$target/stagerun")
expect "GITHUB_PATH has the tool cache folder for later steps" grep -qx "$cached" "$last_ws/.harness/github_path"
expect "both files came from the default URL" grep -q "GET /gh/owner/stagerun/releases/download/v$version/$tarball " "$tmp_root/requests.log"
expect "no build (no cargo output), no warning" test ! -s "$last_ws/.harness/step0.stderr" -a -z "$(grep '^::warning' "$last_ws/.harness/step0.stdout")"

before="$(requests)"
scenario "auto: a later job takes the tool cache, no download" "$(with "{\"download-url\": \"$srv/missing\"}")" \
  STAGING_CHECK_SCENARIO=pass PATH="$nopath" RUNNER_TOOL_CACHE="$tmp_root/tool-cache"
check "source cache, verdict SUCCESS" ".steps.install.outputs.source == \"cache\" and .steps.install.outputs.bin == \"$cached/stagerun\" and .action_outputs.verdict == \"SUCCESS\"" "$res"
expect "no request to the server" test "$(requests)" = "$before"

printf 'x' >>"$cached/stagerun"
scenario "a damaged tool cache entry is downloaded again" "$(with "{\"download-url\": \"$srv/mirror/\"}")" \
  STAGING_CHECK_SCENARIO=pass PATH="$nopath" RUNNER_TOOL_CACHE="$tmp_root/tool-cache"
check "source release, verdict SUCCESS" '.steps.install.outputs.source == "release" and .action_outputs.verdict == "SUCCESS"' "$res"
expect "a warning names the damaged entry" grep -q "does not match its recorded checksum" "$last_ws/.harness/step0.stdout"
expect "the cache holds the tarball's binary again" cmp -s "$cached/stagerun" \
  <(tar -xzOf "$release_dir/$tarball" "stagerun-$version-$target/stagerun")

scenario "release: ignores a stagerun on PATH" "$(with "{\"install\": \"release\", \"download-url\": \"$srv/mirror\"}")" \
  STAGING_CHECK_SCENARIO=pass RUNNER_TOOL_CACHE="$tmp_root/tc-release"
check "source release, not path; verdict SUCCESS" '.steps.install.outputs.source == "release" and (.steps.install.outputs.bin | startswith("'"$tmp_root/tc-release/"'")) and .action_outputs.verdict == "SUCCESS"' "$res"

for mode in auto release; do
  scenario "$mode: a tampered tarball is refused" "$(with "{\"install\": \"$mode\", \"download-url\": \"$srv/tampered\"}")" \
    STAGING_CHECK_SCENARIO=pass PATH="$nopath" RUNNER_TOOL_CACHE="$tmp_root/tc-tampered-$mode"
  check "install fails (1), run and upload skipped, no outputs" '.steps.install.rc == 1 and .steps.run.outcome == "skipped" and (.uses // {} | length) == 0 and .action_outputs.verdict == ""' "$res"
  expect "::error names the checksum mismatch" grep -q "^::error title=stagerun install::checksum mismatch for $srv/tampered/v$version/$tarball" "$last_ws/.harness/step0.stdout"
  expect "the tampered binary never ran" test ! -e "$ran_mark"
  expect "nothing in the tool cache" test ! -e "$tmp_root/tc-tampered-$mode/stagerun/$version/$arch"
  expect "no build fallback" test -z "$(grep -l 'building stagerun' "$last_ws/.harness/step0.stdout")"
done

scenario "auto: listed in SHA256SUMS but the tarball is missing: refused, no build" "$(with "{\"download-url\": \"$srv/partial\"}")" \
  STAGING_CHECK_SCENARIO=pass PATH="$nopath" RUNNER_TOOL_CACHE="$tmp_root/tc-partial"
check "install fails (1), run skipped" '.steps.install.rc == 1 and .steps.run.outcome == "skipped"' "$res"
expect "::error says it could not be downloaded" grep -q "is listed in SHA256SUMS but could not be downloaded" "$last_ws/.harness/step0.stdout"

scenario "release: no release at the URL fails, never builds" "$(with "{\"install\": \"release\", \"download-url\": \"$srv/missing\"}")" \
  STAGING_CHECK_SCENARIO=pass PATH="$nopath" RUNNER_TOOL_CACHE="$tmp_root/tc-missing"
check "install fails (1), run skipped" '.steps.install.rc == 1 and .steps.run.outcome == "skipped"' "$res"
expect "warning names the URL, error says it never builds" grep -q "no stagerun $version release at $srv/missing/v$version" "$last_ws/.harness/step0.stdout"
expect "  ... and never builds" grep -q "it never builds" "$last_ws/.harness/step0.stdout"

scenario "release: the release has no tarball for this platform" "$(with "{\"install\": \"release\", \"download-url\": \"$srv/elsewhere\"}")" \
  STAGING_CHECK_SCENARIO=pass PATH="$nopath" RUNNER_TOOL_CACHE="$tmp_root/tc-elsewhere"
check "install fails (1)" '.steps.install.rc == 1' "$res"
expect "the warning says which file is not in SHA256SUMS" grep -q "has no $tarball (not in its SHA256SUMS)" "$last_ws/.harness/step0.stdout"

scenario "auto: plain http to a host that is not loopback is refused before any request" \
  "$(with '{"download-url": "http://stagerun-mirror.invalid/releases"}')" STAGING_CHECK_SCENARIO=pass PATH="$nopath"
check "install fails with 2 (a bad input), no build" '.steps.install.rc == 2 and .steps.run.outcome == "skipped"' "$res"
expect "the error says https" grep -q "must be https://" "$last_ws/.harness/step0.stdout"

scenario "a version that is not a version" "$(with '{"install": "release", "version": "1.0; touch PWNED"}')" PATH="$nopath"
check "install fails with 2" '.steps.install.rc == 2' "$res"

# Last, as it builds the project (release profile) with cargo.
scenario "auto: no release at the URL falls back to the build" "$(with "{\"download-url\": \"$srv/missing\"}")" \
  STAGING_CHECK_SCENARIO=pass PATH="$nopath" RUNNER_TOOL_CACHE="$tmp_root/tc-build"
check "built from source: verdict SUCCESS" '.steps.install.outputs.source == "build" and (.steps.install.outputs.bin | endswith("/release/stagerun")) and .action_outputs.verdict == "SUCCESS"' "$res"
expect "a warning said why it builds" grep -q "^::warning title=stagerun install::no stagerun $version release at $srv/missing" "$last_ws/.harness/step0.stdout"
expect "GITHUB_PATH has the release folder" grep -q '/release$' "$last_ws/.harness/github_path"
