#!/usr/bin/env bash
# Prepares PROJECT_DIR/.mediasoup-offline so that `cargo build` of the Rust crate
# mediasoup 0.33.1 (mediasoup-sys 0.24.0) works with no network but crates.io,
# PyPI and Debian. Idempotent. Usage: setup-offline.sh [PROJECT_DIR]
# PROJECT_DIR/.cargo/config.toml must carry the [env] entries printed at the end.
set -euo pipefail
SHIMS=$(cd "$(dirname "${BASH_SOURCE[0]}")/shims" && pwd)
PROJECT=$(cd "${1:-.}" && pwd)
OFF=$PROJECT/.mediasoup-offline
CACHE=$OFF/packagecache

# 1. Debian: OpenSSL 3.0, libuv 1.44, flatbuffers 2.0.8 (headers + flatc).
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q --no-install-recommends build-essential python3 python3-venv \
  libssl-dev libuv1-dev libflatbuffers-dev flatbuffers-compiler >/dev/null

# 2. PyPI: the meson/ninja that mediasoup-sys' tasks.py pins, in a venv, and a meson
#    launcher (shims/meson-offline.py) that mediasoup-sys runs through $MESON.
python3 -m venv "$OFF/venv"
"$OFF/venv/bin/pip" install -q --disable-pip-version-check meson==1.12.0 ninja==1.13.2 setuptools wheel
mkdir -p "$OFF/bin"
{ echo "#!$OFF/venv/bin/python3"; cat "$SHIMS/meson-offline.py"; } > "$OFF/bin/meson"
chmod +x "$OFF/bin/meson"

# 3. Sources that Debian lacks, from the registries:
#    - libsrtp 2.7.0 (has a meson.build): vendored in crates.io's datachannel-sys.
#    (unordered_dense needs no download: shims/unordered_dense carries an alias header.)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/fetch/src" && : > "$tmp/fetch/src/lib.rs"
cat > "$tmp/fetch/Cargo.toml" <<'TOML'
[package]
name = "fetch-srtp-source"
version = "0.0.0"
edition = "2021"
[dependencies]
datachannel-sys = { version = "=0.23.0+0.23.2", default-features = false }
TOML
srtp_src=$(cd "$tmp/fetch" && cargo metadata -q --format-version 1 | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
p = next(p for p in m["packages"] if p["name"] == "datachannel-sys")
print(os.path.join(os.path.dirname(p["manifest_path"]), "libdatachannel", "deps", "libsrtp"))')

# 4. MESON_PACKAGE_CACHE_DIR: one ready directory per wrap, named after the wrap's
#    `directory` key in mediasoup-sys-0.24.0/subprojects/*.wrap.
rm -rf "$CACHE"; mkdir -p "$CACHE"
cp -r "$SHIMS/libuv" "$CACHE/libuv-v1.51.0"
cp -r "$SHIMS/openssl" "$CACHE/openssl-3.0.10"
cp -r "$SHIMS/flatbuffers" "$CACHE/flatbuffers-24.3.25"
cp -r "$SHIMS/unordered_dense" "$CACHE/unordered_dense-5.3.2"
srtp=$CACHE/libsrtp-3.0.0-beta-2fc078db
cp -r "$srtp_src" "$srtp"
chmod -R u+w "$srtp"
cp -r "$SHIMS/libsrtp3/srtp3-compat" "$srtp/"
cat "$SHIMS/libsrtp3/meson.build.append" >> "$srtp/meson.build"

cat <<MSG
Prepared $OFF. $PROJECT/.cargo/config.toml needs:
[env]
MESON = { value = ".mediasoup-offline/bin/meson", relative = true }
MESON_PACKAGE_CACHE_DIR = { value = ".mediasoup-offline/packagecache", relative = true }
MSG
