//go:build race

package synth

// sqlitePatients sizes the tests that go through SQLite: the modernc
// SQLite code runs about 60 times slower under the race detector.
const sqlitePatients = 300
