//go:build !race

package synth

// sqlitePatients sizes the tests that go through SQLite.
const sqlitePatients = 1500
