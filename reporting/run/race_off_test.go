//go:build !race

package run

const intentPatients = 5000
