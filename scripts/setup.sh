#!/usr/bin/env bash
# Installs everything Podium needs on a fresh Debian 12 machine, as root or with sudo:
# apt packages, the npm packages of web/, and the offline mediasoup build recipe.
# Idempotent: when nothing is missing it only checks, in a few seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
say() { printf 'setup: %s\n' "$*"; }
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

# 1. Debian packages.
APT_PACKAGES=(
  # C/C++ toolchain and what the mediasoup worker links (see tools/mediasoup-offline)
  build-essential pkg-config python3 python3-venv
  libssl-dev libuv1-dev libflatbuffers-dev flatbuffers-compiler
  # ffmpeg-next: FFmpeg 5.1's libraries and bindgen's libclang
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev clang libclang-dev
  # the ffmpeg CLI (ffprobe in tests), test speech and audio measurement
  ffmpeg espeak-ng sox
  # browser tests, and fonts for the pages and the recording's name labels
  chromium chromium-driver fonts-dejavu-core fonts-liberation
  # the browser-compositing recorder baseline (`cargo bench … -- browser`): a virtual
  # display and a sound server with a null sink (xdpyinfo and pactl to wait for them)
  xvfb x11-utils pulseaudio pulseaudio-utils
)
command -v node >/dev/null && command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
# One query per package: dpkg-query prints nothing for a package it never heard of.
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Rust toolchain: the machine's own (rustup). Say so clearly rather than fail later.
command -v cargo >/dev/null || { say "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }

# 3. npm packages of web/ (mediasoup-client, esbuild, playwright-core), when the lock
#    file changed since the last install.
stamp=web/node_modules/.podium-lock.sha256
want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing npm packages of web/"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

# 4. The offline mediasoup build recipe, when it or its shims changed.
recipe=$(find tools/mediasoup-offline/setup-offline.sh tools/mediasoup-offline/shims -type f -print0 \
  | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
stamp=.mediasoup-offline/.podium-recipe.sha256
if [ "$(cat "$stamp" 2>/dev/null)" != "$recipe" ]; then
  say "preparing the offline mediasoup build (.mediasoup-offline/)"
  tools/mediasoup-offline/setup-offline.sh "$ROOT" >/dev/null
  echo "$recipe" > "$stamp"
fi

# 5. Cargo cannot see the recipe (it lives outside mediasoup-sys), so a worker built
#    by another version of it would be reused. Remember, per target dir, which recipe
#    built it; on a change, rebuild mediasoup-sys and drop the subproject copies that
#    an interrupted build may have left in the registry (tools/mediasoup-offline/README.md).
target=${CARGO_TARGET_DIR:-$ROOT/target}
built=$target/.podium-mediasoup-recipe.sha256
if [ "$(cat "$built" 2>/dev/null)" != "$recipe" ]; then
  if [ -d "$target/release/build" ]; then
    say "the mediasoup recipe changed: mediasoup-sys will be rebuilt"
    cargo clean -q --release -p mediasoup-sys
  fi
  for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/mediasoup-sys-*/subprojects; do
    [ -d "$dir" ] && find "$dir" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  done
  mkdir -p "$target"
  echo "$recipe" > "$built"
fi
# 5. UDP socket buffers: the media sockets ask for 4 MB (server::media::SOCKET_BUFFER);
#    Linux grants at most net.core.rmem_max / wmem_max, 212 kB by default. Raised and
#    kept across reboots where this machine lets us (not inside most containers); the
#    server warns at start when they stay lower.
want_buffer=4194304
for key in net.core.rmem_max net.core.wmem_max; do
  have=$(cat "/proc/sys/${key//.//}" 2>/dev/null || echo "$want_buffer")
  if [ "$have" -lt "$want_buffer" ]; then
    if $SUDO sysctl -q -w "$key=$want_buffer" >/dev/null 2>&1; then
      if { $SUDO mkdir -p /etc/sysctl.d && echo "$key=$want_buffer" | $SUDO tee -a /etc/sysctl.d/60-podium.conf >/dev/null; } 2>/dev/null; then
        say "raised $key to $want_buffer (kept in /etc/sysctl.d/60-podium.conf)"
      else
        say "raised $key to $want_buffer until the next reboot (/etc/sysctl.d is not writable)"
      fi
    else
      say "could not raise $key from $have (a container?): media may drop in bursts under load"
    fi
  fi
done
say "all dependencies present"
