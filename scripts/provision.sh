#!/usr/bin/env bash
# Prepares an Ubuntu machine (the Vagrant VM, or a plain Ubuntu host) for
# building and testing aioring: installs the pinned Go toolchain, git, gcc and
# fio, warms the Go module cache and checks that io_uring is usable.
#
# Usage:
#   sudo bash scripts/provision.sh [--repo DIR] [--user NAME]
#   bash scripts/provision.sh --check-only
#
#   --check-only  only check that io_uring is usable by the current user; needs
#                 no root and changes nothing. Exit 0 when usable, otherwise 1
#                 with a one-line reason and fix on stderr.
#   --repo DIR    repository whose modules to download (default: the directory
#                 above this script; Vagrant uploads the script elsewhere, so
#                 the Vagrantfile passes the synced path).
#   --user NAME   user who owns the module cache (default: $SUDO_USER, else
#                 the user running the script). Downloading as root would fill
#                 /root/go, which the developer's `go test` never reads.
#
# Environment overrides, for tests of the check itself:
#   AIORING_IO_URING_DISABLED_FILE  sysctl file to read instead of
#                                   /proc/sys/kernel/io_uring_disabled
#   AIORING_KERNEL_RELEASE          kernel release to judge instead of uname -r
#
# Running it again changes nothing: every step first looks whether its work is
# already done.
set -euo pipefail

# Go 1.26.x matches the `go 1.26` line in go.mod. The checksums are those of
# the official go.dev/dl tarballs; they could not be downloaded and hashed from
# the machine this was written on, so they were cross-checked against several
# independent public pinnings of the same files. A wrong hash makes the
# install stop before anything is unpacked, never install something unchecked.
readonly GO_VERSION=1.26.8
readonly GO_SHA256_AMD64=d0f743b33e8d8945e6b1f432edd15785c70507121d6e2a723b21285eddf8b57b
readonly GO_SHA256_ARM64=211ffced9dcb9633a55eac6364816ec0ddd951389a740e88fa8b3337971bdda0
readonly GO_ROOT=/usr/local/go

# aioring's minimum supported kernel. Older kernels lack io_uring features it
# uses and would fail tests in confusing ways, so refuse them up front.
readonly MIN_KERNEL_MAJOR=5
readonly MIN_KERNEL_MINOR=19

# Build tools and things this script itself uses (curl and certificates for
# the Go download).
readonly APT_PACKAGES=(git gcc libc6-dev fio curl ca-certificates)

log() { printf 'provision: %s\n' "$*"; }

# fail prints the single line that callers (and the Go test) rely on.
fail() {
	printf 'aioring: %s\n' "$*" >&2
	exit 1
}

# check_io_uring decides whether the current user can use io_uring here. Each
# step prints one line on failure naming the cause and the fix.
check_io_uring() {
	local release major minor
	release=${AIORING_KERNEL_RELEASE:-$(uname -r)}
	if [[ ! $release =~ ^([0-9]+)\.([0-9]+) ]]; then
		fail "cannot read a kernel version from '$release'; io_uring needs Linux ${MIN_KERNEL_MAJOR}.${MIN_KERNEL_MINOR} or later"
	fi
	major=${BASH_REMATCH[1]}
	minor=${BASH_REMATCH[2]}
	if ((major < MIN_KERNEL_MAJOR || (major == MIN_KERNEL_MAJOR && minor < MIN_KERNEL_MINOR))); then
		fail "kernel $release is too old: aioring needs Linux ${MIN_KERNEL_MAJOR}.${MIN_KERNEL_MINOR} or later; upgrade the kernel (Ubuntu 24.04 ships 6.8) or use the Vagrant VM"
	fi

	# kernel.io_uring_disabled exists since Linux 6.6; without it there is no
	# switch to be off, so only the probe below can tell.
	local disabled_file=${AIORING_IO_URING_DISABLED_FILE:-/proc/sys/kernel/io_uring_disabled}
	local disabled=0
	if [[ -e $disabled_file ]]; then
		disabled=$(tr -d '[:space:]' <"$disabled_file")
	fi
	case $disabled in
	0) ;;
	1)
		# 1 lets only privileged processes and members of
		# kernel.io_uring_group in.
		local group=-1
		if [[ -r /proc/sys/kernel/io_uring_group ]]; then
			group=$(tr -d '[:space:]' </proc/sys/kernel/io_uring_group)
		fi
		if [[ $(id -u) -ne 0 && " $(id -G) " != *" $group "* ]]; then
			fail "io_uring is limited to privileged processes (kernel.io_uring_disabled=1 in $disabled_file); enable it with: sudo sysctl -w kernel.io_uring_disabled=0"
		fi
		if [[ $(id -u) -eq 0 ]]; then
			printf 'aioring: warning: kernel.io_uring_disabled=1: root may use io_uring but other users may not; run: sudo sysctl -w kernel.io_uring_disabled=0\n' >&2
		fi
		;;
	2)
		fail "io_uring is disabled for all processes (kernel.io_uring_disabled=2 in $disabled_file); enable it with: sudo sysctl -w kernel.io_uring_disabled=0"
		;;
	*)
		fail "unexpected value '$disabled' in $disabled_file; expected 0, 1 or 2; set it with: sudo sysctl -w kernel.io_uring_disabled=0"
		;;
	esac

	# The settings above can all look right while a seccomp filter (Docker's
	# default profile, some sandboxes) or a kernel built without
	# CONFIG_IO_URING still refuses the syscall, so ask the kernel directly:
	# io_uring_setup (syscall 425 on every architecture) with one entry.
	# python3 ships with Ubuntu; where it is missing, say the probe was skipped.
	local probe=skipped
	if command -v python3 >/dev/null 2>&1; then
		local err
		if ! err=$(python3 - <<'EOF' 2>&1
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
fd = libc.syscall(425, 1, params)
if fd < 0:
    sys.exit(os.strerror(ctypes.get_errno()))
os.close(fd)
EOF
		); then
			fail "the kernel refused io_uring_setup ($err): a seccomp profile or a kernel built without CONFIG_IO_URING blocks it; run outside that sandbox (for Docker: --security-opt seccomp=unconfined) or use the Vagrant VM"
		fi
		probe=ok
	fi
	printf 'aioring: io_uring is usable (kernel %s, io_uring_disabled=%s, io_uring_setup probe %s)\n' \
		"$release" "$disabled" "$probe"
}

# install_packages installs only what is missing, so a re-run neither
# refreshes the package lists nor touches dpkg.
install_packages() {
	local missing=() pkg
	for pkg in "${APT_PACKAGES[@]}"; do
		if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != 'install ok installed' ]]; then
			missing+=("$pkg")
		fi
	done
	if ((${#missing[@]} == 0)); then
		log "packages already installed: ${APT_PACKAGES[*]}"
		return
	fi
	log "installing ${missing[*]}"
	# A freshly booted Ubuntu VM often has unattended-upgrades holding the
	# dpkg lock; wait for it instead of failing.
	local apt=(apt-get -o DPkg::Lock::Timeout=600)
	export DEBIAN_FRONTEND=noninteractive
	"${apt[@]}" update -q
	"${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"
}

go_arch() {
	case $(uname -m) in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) fail "no pinned Go tarball for architecture $(uname -m); only amd64 and arm64 are supported" ;;
	esac
}

install_go() {
	local arch
	arch=$(go_arch)
	if [[ -x $GO_ROOT/bin/go ]] &&
		[[ $("$GO_ROOT/bin/go" version 2>/dev/null) == "go version go${GO_VERSION} linux/${arch}" ]]; then
		log "Go ${GO_VERSION} already installed in $GO_ROOT"
	else
		local sha tmp
		if [[ $arch == amd64 ]]; then sha=$GO_SHA256_AMD64; else sha=$GO_SHA256_ARM64; fi
		tmp=$(mktemp -d)
		# Cleaned on any exit so a failed download leaves no litter.
		# shellcheck disable=SC2064 # expand $tmp now, while it is set
		trap "rm -rf '$tmp'" EXIT
		log "downloading go${GO_VERSION}.linux-${arch}.tar.gz"
		curl -fsSL --retry 3 -o "$tmp/go.tgz" "https://go.dev/dl/go${GO_VERSION}.linux-${arch}.tar.gz"
		echo "$sha  $tmp/go.tgz" | sha256sum -c --quiet - ||
			fail "checksum mismatch for go${GO_VERSION}.linux-${arch}.tar.gz; not installing it"
		tar -C "$tmp" -xzf "$tmp/go.tgz"
		# Replace the old tree only once the new one is unpacked, so an
		# interrupted run never leaves half a toolchain behind.
		rm -rf "$GO_ROOT"
		mv "$tmp/go" "$GO_ROOT"
		log "installed $("$GO_ROOT/bin/go" version)"
	fi

	# `vagrant ssh -c` runs a non-login shell that reads no profile, so put
	# the tools on the PATH every shell already has instead of editing
	# profiles.
	local tool
	for tool in go gofmt; do
		if [[ $(readlink "/usr/local/bin/$tool" 2>/dev/null) != "$GO_ROOT/bin/$tool" ]]; then
			ln -sfn "$GO_ROOT/bin/$tool" "/usr/local/bin/$tool"
			log "linked /usr/local/bin/$tool"
		fi
	done
}

# warm_module_cache downloads the module's dependencies as the developer so
# the first `go test` works offline and fast.
warm_module_cache() {
	local repo=$1 user=$2
	if [[ ! -f $repo/go.mod ]]; then
		log "no go.mod in $repo yet; skipping module download"
		return
	fi
	local home
	home=$(getent passwd "$user" | cut -d: -f6) || fail "unknown user '$user' (pass --user NAME)"
	log "downloading modules for $repo as $user"
	runuser -u "$user" -- env HOME="$home" PATH="$GO_ROOT/bin:/usr/bin:/bin" \
		"$GO_ROOT/bin/go" -C "$repo" mod download
}

main() {
	local check_only=false
	local repo user
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	user=${SUDO_USER:-$(id -un)}
	while (($#)); do
		case $1 in
		--check-only) check_only=true ;;
		--repo)
			[[ $# -ge 2 ]] || fail "--repo needs a directory"
			repo=$2
			shift
			;;
		--user)
			[[ $# -ge 2 ]] || fail "--user needs a user name"
			user=$2
			shift
			;;
		-h | --help)
			sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
			return 0
			;;
		*) fail "unknown argument '$1' (see --help)" ;;
		esac
		shift
	done

	if $check_only; then
		check_io_uring
		return
	fi

	[[ $(id -u) -eq 0 ]] || fail "provisioning installs packages: run it as root or with sudo (or pass --check-only)"
	command -v apt-get >/dev/null 2>&1 || fail "provisioning needs apt-get (Ubuntu or Debian); on other systems use the Vagrant VM"

	install_packages
	install_go
	warm_module_cache "$repo" "$user"
	# Last, so that the tools are in place even when io_uring is not and the
	# reason is the final thing printed.
	check_io_uring
}

main "$@"
