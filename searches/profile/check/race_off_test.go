//go:build !race

package check_test

// patients sizes the practices the tests write.
const patients = 300
