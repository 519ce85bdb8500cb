#!/usr/bin/env bash
# The standalone agent, for session images that have no Node or no Berth checkout:
#   dist/agent/berth-agent.cjs  one CommonJS file (esbuild bundle of src/connect/agent/agent-main.ts)
#   dist/agent/berth-agent      a Node single executable application: this machine's node with the bundle inside
# Usage: bash scripts/build-agent.sh [OUTPUT_DIR]   (npm run build:agent; OUTPUT_DIR defaults to dist/agent)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/agent}
mkdir -p "$out"
version=$(node -p 'require("./package.json").version')

# The bundle carries its version (agent-main.ts reads package.json only when run from the source tree,
# through import.meta, which a CommonJS bundle leaves empty: hence the silenced warning).
node_modules/.bin/esbuild src/connect/agent/agent-main.ts \
  --bundle --platform=node --format=cjs --target=node20 \
  --define:BERTH_AGENT_VERSION="\"$version\"" \
  --log-override:empty-import-meta=silent --log-level=warning \
  --outfile="$out/berth-agent.cjs"

# Single executable application: a preparation blob from the bundle, injected into a copy of node.
# Both tools are chatty (postject warns about ELF notes it does not know): their output is shown only on failure.
quietly() {
  local output
  if ! output=$("$@" 2>&1); then
    printf '%s\n' "$output" >&2
    return 1
  fi
}
cat > "$out/sea-config.json" <<JSON
{ "main": "$out/berth-agent.cjs", "output": "$out/berth-agent.blob", "disableExperimentalSEAWarning": true }
JSON
quietly node --experimental-sea-config "$out/sea-config.json"
rm -f "$out/berth-agent"
cp "$(command -v node)" "$out/berth-agent"
chmod u+w "$out/berth-agent"
quietly node_modules/.bin/postject "$out/berth-agent" NODE_SEA_BLOB "$out/berth-agent.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
rm -f "$out/berth-agent.blob" "$out/sea-config.json"
"$out/berth-agent" --version >/dev/null
echo "built $out/berth-agent ($("$out/berth-agent" --version)) and $out/berth-agent.cjs"
