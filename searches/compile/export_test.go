package compile

// SetMaxWideColumns lowers the column limit of wide series queries for a
// test, and returns what restores it.
func SetMaxWideColumns(n int) (restore func()) {
	old := maxWideColumns
	maxWideColumns = n
	return func() { maxWideColumns = old }
}
