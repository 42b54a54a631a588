// Package arch holds the test that pins the import graph of the module to
// one direction:
//
//	cmd, installer  ->  agent  ->  reporting  ->  searches  ->  internal
//
// A package may import packages of its own tree and of any tree to its
// right, never one to its left: the search language and its compiler know
// nothing of results documents or the collector, the collector nothing of
// the agent, and internal/ nothing of Steward at all. Tests may import any
// tree but cmd (an end-to-end test of the collector drives the real agent
// client). scripts/ are tools, outside the order. The test reads `go list`
// and fails on any import against the order, naming the rule.
package arch
