#!/usr/bin/env bash
# The Debian packages the tests use, installed when missing and this machine can (root, or
# password-less sudo); otherwise says what to install, and the tests that need them skip with
# that reason (CI sets REQUIRE_BROWSER_TESTS=1 / REQUIRE_PGBOUNCER_TESTS=1: there they fail).
#   espeak-ng: the simulator speaks voicemails with it (tests fall back to tones without it)
#   chromium:  the browser tests of the owner's web inbox (Playwright drives Debian's Chromium)
#   pgbouncer: the app through PgBouncer in transaction mode (tests/platform/test_pgbouncer.py)
set -uo pipefail

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
[ "${#missing[@]}" -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-packages: no apt-get here; install ${missing[*]} yourself" >&2
    exit 0
fi
run=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        run=(sudo -n)
    else
        echo "install-test-packages: not root and no password-less sudo:" \
            "run 'sudo apt-get install ${missing[*]}' for the tests that need them" >&2
        exit 0
    fi
fi
echo "install-test-packages: apt-get install ${missing[*]}"
"${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    echo "install-test-packages: apt-get failed; the tests that need ${missing[*]} will say so" >&2
exit 0
