#!/usr/bin/env bash
# Sourced by the scripts that run a PyTorch peer. Debian's python3-torch is built with
# BLAS_INFO=generic: it calls whatever libblas.so.3 the alternatives system points to, and on a
# machine with only libblas3 that is the netlib reference BLAS, which made the translation peer
# about 15× slower per step on 2026-12-02 (16–17 s a step against 1.1 s with OpenBLAS, 1 thread,
# the same batches). A peer measured that way is not the strongest peer, so refuse to run it.
peer_blas_check() {
	local blas
	blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
	case $blas in
	*openblas*) ;;
	*)
		echo "the PyTorch peer would run on the reference BLAS ($blas): apt-get install libopenblas0-pthread (Debian's python3-torch uses the system's libblas.so.3)" >&2
		return 1
		;;
	esac
}
