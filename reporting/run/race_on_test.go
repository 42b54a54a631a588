//go:build race

package run

// intentPatients sizes the generator-intent test: modernc SQLite runs
// about 60 times slower under the race detector.
const intentPatients = 800
