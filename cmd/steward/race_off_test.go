//go:build !race

package main

// Sizes of the tests that go through SQLite in this process.
const (
	synthPatients = "300"
	// profileFixtures are the fixtures run through a profile file: every
	// MedSIP boundary case.
	profileFixtures = "../../searches/packs/medsip"
)
