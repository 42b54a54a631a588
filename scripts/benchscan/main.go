// Command benchscan times one full scan of medication_issues
// (SELECT count(*), sum(quantity)), the yardstick make bench compares the
// MedSIP pack with. It prints the row count and the seconds taken.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nhs-steward/steward/searches/dialect"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchscan DB_URL")
		os.Exit(2)
	}
	db, _, err := dialect.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer db.Close()
	start := time.Now()
	var n int64
	var sum *float64
	if err := db.QueryRow("SELECT count(*), sum(quantity) FROM medication_issues").Scan(&n, &sum); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d %.3f\n", n, time.Since(start).Seconds())
}
