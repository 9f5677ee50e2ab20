package main

import (
	"context"
	"errors"
	"io"
	"time"
)

// runSoak is a placeholder until bench/soak.go lands; delete this file then.
func runSoak(ctx context.Context, d time.Duration, out io.Writer) error {
	return errors.New("the soak test is not written yet (bench/soak.go)")
}
