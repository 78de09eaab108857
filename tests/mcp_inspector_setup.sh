#!/usr/bin/env bash
# Install the MCP Inspector CLI (the second, independent MCP client used by
# goldfish-mcp/tests/test_mcp_inspector.py) into .goldfish-ci/inspector (git-ignored).
# Idempotent: does nothing when the pinned version is already installed.
# Called by .ci/run before pytest, and by the test itself when the inspector is missing.
set -euo pipefail

VERSION="${MCP_INSPECTOR_VERSION:-2.12.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${MCP_INSPECTOR_DIR:-$ROOT/.goldfish-ci/inspector}"
BIN="$DEST/node_modules/.bin/mcp-inspector"

if [ -x "$BIN" ] && grep -q "\"version\": \"$VERSION\"" \
        "$DEST/node_modules/@modelcontextprotocol/inspector/package.json" 2>/dev/null; then
    echo "$BIN"
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "mcp_inspector_setup: npm is required (install Node.js >= 18)" >&2; exit 1; }
mkdir -p "$DEST"
[ -f "$DEST/package.json" ] || echo '{"name": "goldfish-ci-inspector", "private": true}' > "$DEST/package.json"
npm install --prefix "$DEST" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/inspector@$VERSION" >&2
echo "$BIN"
