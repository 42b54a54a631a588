//go:build race

package check_test

// patients sizes the practices the tests write: the modernc SQLite code
// runs about 60 times slower under the race detector.
const patients = 80
