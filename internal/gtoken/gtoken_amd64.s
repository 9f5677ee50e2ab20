#include "textflag.h"

// func Current() uintptr
//
// ABI0 code finds the current goroutine's g in thread-local storage
// (the Go internal ABI, "amd64 architecture": R14 holds g only in
// ABIInternal code); the assembler turns (TLS) into the platform's
// access to that slot.
TEXT ·Current(SB), NOSPLIT, $0-8
	MOVQ	(TLS), AX
	MOVQ	AX, ret+0(FP)
	RET
