#!/usr/bin/env bash
# Install what building, testing and the demo need on Debian 12.
# Idempotent: packages already present are not touched, and apt is only
# called when something is missing.
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang clang-format
	libssl-dev libcurl4-openssl-dev libyajl-dev libyaml-dev libcmocka-dev
	openssl curl ca-certificates iproute2 procps
	python3 python3-cryptography python3-numpy python3-yaml
	libtss2-dev swtpm swtpm-tools tpm2-tools libkmod-dev
	python3-fusepy fuse3
	libnghttp2-dev nghttp2-client python3-h2 python3-jwcrypto
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "installing: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: missing packages and not root; run:" >&2
		echo "  sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		>/dev/null
fi

# kubectl (for the manifest test) is not in Debian 12 with a kustomize
# that knows Components; the test skips with a message when it is absent.
command -v kubectl >/dev/null 2>&1 ||
	echo "note: kubectl not found; the manifest test will be skipped"
