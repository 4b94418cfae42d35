#!/usr/bin/env bash
# Install the pinned tools the infrastructure tests run, once per machine:
#   - the cdktf CLI from npm into tools/cdktf-cli/node_modules (versions in its lock file)
#   - checkov into its own venv, .cache/checkov-venv, because its dependencies conflict with
#     the project's pins.
# Both are skipped when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHECKPOINT_DISABLE=1
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true
export PIP_DISABLE_PIP_VERSION_CHECK=1

CDKTF_CLI_VERSION=0.21.0
CHECKOV_VERSION=3.3.30

cli_manifest=tools/cdktf-cli/node_modules/cdktf-cli/package.json
if ! grep -q "\"version\": \"$CDKTF_CLI_VERSION\"" "$cli_manifest" 2>/dev/null; then
  # --ignore-scripts: synthesis needs no native add-on, and no install script downloads
  # anything outside the registry.
  npm ci --prefix tools/cdktf-cli --ignore-scripts --no-audit --no-fund --loglevel=error
fi

venv=.cache/checkov-venv
marker="$venv/.checkov-$CHECKOV_VERSION"
if [ ! -f "$marker" ]; then
  rm -rf "$venv"
  python -m venv "$venv"
  "$venv/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
  touch "$marker"
fi
