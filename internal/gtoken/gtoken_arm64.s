#include "textflag.h"

// func Current() uintptr
//
// On arm64 every Go function, ABI0 assembly included, has the current
// goroutine's g in register R28, which the assembler names g (the Go
// internal ABI, "arm64 architecture").
TEXT ·Current(SB), NOSPLIT, $0-8
	MOVD	g, R0
	MOVD	R0, ret+0(FP)
	RET
