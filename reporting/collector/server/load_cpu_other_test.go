//go:build !unix

package server_test

import "time"

// processCPU is not measured here: the load benchmark prints 0.
func processCPU() time.Duration { return 0 }
