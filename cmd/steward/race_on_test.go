//go:build race

package main

// Sizes of the tests that go through SQLite in this process: the modernc
// SQLite code runs about 60 times slower under the race detector.
const (
	synthPatients = "60"
	// profileFixtures are the fixtures run through a profile file.
	profileFixtures = "../../testdata/search-small/ok.test.yaml"
)
