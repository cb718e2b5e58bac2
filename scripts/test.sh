#!/usr/bin/env bash
# Run every test of meet, from a fresh Debian 12 machine:
#   1. install what the tests need, if missing (Debian postgresql, chromium, nftables, iproute2, coturn, ffmpeg; pinned Python packages
#      from tests/e2e/requirements.txt) -- idempotent, prints what it does;
#   2. cargo build --release --workspace --bins   (the browser tests use the release binaries);
#   3. cargo nextest run --workspace --release     (or cargo test when nextest is absent);
#   4. python3 -m pytest tests/e2e -x -v           (two headless Chromiums against meet-control).
# Stops at the first failing step.
#
# Environment:
#   MEET_SKIP_INSTALL=1  skip step 1        MEET_SKIP_E2E=1  skip step 4
#   PYTHON=...           interpreter for the browser tests (default: python3)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

PYTHON=${PYTHON:-python3}
REQUIREMENTS=tests/e2e/requirements.txt
CHROMIUM=/usr/bin/chromium
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

START=$SECONDS
STEP=setup
step() { STEP=$1; echo; echo "==> [test.sh +$((SECONDS - START))s] $1"; }
say() { echo "    $*"; }
DIED=0
die() { DIED=1; echo; echo "test.sh: FAILED in step '$STEP' after $((SECONDS - START))s: $*" >&2; exit 1; }
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ "$DIED" -eq 0 ]; then
        echo "test.sh: FAILED in step '$STEP' (exit $rc) after $((SECONDS - START))s" >&2
    fi
}
trap on_exit EXIT

# cargo installed by rustup lives in ~/.cargo/bin, which a non-login shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found (install the Rust toolchain with rustup)"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (Python >= 3.9 is needed for the browser tests)"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot apt-get install chromium"
    SUDO=(sudo)
fi

# ---------------------------------------------------------------------------------------------
if [ "${MEET_SKIP_INSTALL:-0}" != 1 ]; then
    step "install: Debian's postgresql (the Rust tests start their own server for the shared store)"
    # Only the programs are used (initdb, pg_ctl, postgres, psql); the tests run a server of their own on
    # a temporary directory, so the packaged service may stay stopped.
    if dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q 'ok installed'; then
        say "postgresql present"
    else
        say "missing: apt-get update && apt-get install -y postgresql"
        export DEBIAN_FRONTEND=noninteractive
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -q || die "apt-get update failed"
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -q postgresql \
            || die "apt-get install postgresql failed"
    fi
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || die "postgresql installed but no initdb under /usr/lib/postgresql"
fi

# ---------------------------------------------------------------------------------------------
if [ "${MEET_SKIP_INSTALL:-0}" != 1 ] && [ "${MEET_SKIP_E2E:-0}" != 1 ]; then
    step "install: Debian packages (chromium; nftables, iproute2 for the network lab; coturn; ffmpeg) and Python test packages"
    # The lab of tests/e2e/test_network.py drops packets with nft and limits rates with tc;
    # tests/e2e/test_getting_through.py runs its own turnserver (coturn) inside the lab.
    # Recording converts with ffmpeg, and relay/tests/record_files.rs and tests/e2e/test_recording.py
    # read files back with ffprobe.
    debs=()
    [ -x "$CHROMIUM" ] || debs+=(chromium)
    for pkg in nftables iproute2 coturn ffmpeg; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || debs+=("$pkg")
    done
    if [ ${#debs[@]} -eq 0 ]; then
        say "$CHROMIUM, nftables, iproute2, coturn and ffmpeg present"
    else
        say "missing: apt-get update && apt-get install -y ${debs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Wait for a concurrent apt/dpkg (unattended upgrades, another shell) instead of failing.
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -q \
            || die "apt-get update failed"
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -q "${debs[@]}" \
            || die "apt-get install ${debs[*]} failed"
        [ -x "$CHROMIUM" ] || die "chromium installed but $CHROMIUM is missing"
    fi
    say "$("$CHROMIUM" --version 2>/dev/null || echo 'chromium --version failed')"

    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
        || die "$PYTHON is $("$PYTHON" --version 2>&1); the browser tests need Python >= 3.9"
    # Is every pinned package installed at its pinned version?
    missing=$("$PYTHON" - "$REQUIREMENTS" <<'EOF'
import sys, re
from importlib import metadata
out = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = re.split(r"==", line, maxsplit=1)
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have != want:
        out.append(f"{name}=={want} (have {have or 'none'})")
print(", ".join(out))
EOF
    ) || die "could not check the Python packages"
    if [ -z "$missing" ]; then
        say "Python packages present: $(tr '\n' ' ' < <(grep -v '^#' "$REQUIREMENTS" | sed '/^$/d'))"
    else
        say "pip install -r $REQUIREMENTS   (needed: $missing)"
        say "(only the Python package; never 'playwright install': Chromium comes from Debian)"
        pip_args=(-m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS")
        if ! "$PYTHON" "${pip_args[@]}"; then
            # Debian's own python3 refuses system-wide installs (PEP 668); pyenv's does not.
            say "pip refused; retrying with --break-system-packages"
            "$PYTHON" "${pip_args[@]}" --break-system-packages || die "pip install failed"
        fi
    fi
fi

# ---------------------------------------------------------------------------------------------
step "build: cargo build --release --workspace --bins"
say "$(cargo --version)"
cargo build --release --workspace --bins || die "release build failed"

# ---------------------------------------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
    step "rust tests: cargo nextest run --workspace --release"
    say "$(cargo nextest --version 2>/dev/null | head -1)"
    # Profile and per-test time limits: .config/nextest.toml.
    cargo nextest run --workspace --release --no-tests=warn || die "Rust tests failed (see above)"
else
    step "rust tests: cargo test --workspace --release (cargo-nextest not installed)"
    cargo test --workspace --release || die "Rust tests failed (see above)"
fi

# ---------------------------------------------------------------------------------------------
if [ "${MEET_SKIP_E2E:-0}" = 1 ]; then
    step "browser tests: skipped (MEET_SKIP_E2E=1)"
else
    step "browser tests: $PYTHON -m pytest tests/e2e -x -v"
    export MEET_CONTROL_BIN="${MEET_CONTROL_BIN:-$TARGET_DIR/release/meet-control}"
    [ -x "$MEET_CONTROL_BIN" ] || die "$MEET_CONTROL_BIN was not built (is the binary named meet-control?)"
    say "server binary: $MEET_CONTROL_BIN; artifacts (server log, screenshots): tests/e2e/artifacts/"
    # pytest-timeout (tests/e2e/pytest.ini) limits each test; this limits the whole run (the network
    # tests of test_network.py hold calls of 45-60 s; the suite takes ~15 min on a quiet 2-core machine).
    timeout --kill-after=30 2400 "$PYTHON" -m pytest tests/e2e -x -v \
        || die "browser tests failed (server log and screenshots in tests/e2e/artifacts/)"
fi

STEP=done
echo
echo "==> [test.sh +$((SECONDS - START))s] all tests passed"
