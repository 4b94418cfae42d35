#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine; each step is skipped when its
# tool is already there. Python packages come from requirements-dev.txt, Chromium (for the
# billing report screenshot) and the Firestore emulator from Debian packages, and the
# infrastructure tools through tools/install-infra-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHECKPOINT_DISABLE=1
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true
export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true
export PIP_DISABLE_PIP_VERSION_CHECK=1

pip install -q -r requirements-dev.txt

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v curl >/dev/null || missing+=(curl)
# The emulator package needs the Google Cloud CLI repository, which machines with gcloud have.
if command -v gcloud >/dev/null && ! gcloud emulators firestore --help >/dev/null 2>&1; then
    missing+=(google-cloud-cli-firestore-emulator)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi

bash tools/install-infra-tools.sh
