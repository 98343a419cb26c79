#!/usr/bin/env bash
# Installs every Debian package ablate needs to build, test and run. Safe to run twice.
set -euo pipefail
packages=(
  build-essential cmake ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libspdlog-dev libabsl-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev
  libssl-dev libxml2-utils
  libcpp-httplib-dev libyaml-cpp-dev
  python3 python3-grpcio python3-grpc-tools python3-pandas python3-matplotlib
  chromium nodejs
  libpcre2-dev libicu-dev
)
missing=()
# Node + npm run the tokenizer tests' reference (npm @huggingface/tokenizers); a machine that
# already has them (e.g. from another source) keeps its own.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#packages[@]} packages present"
