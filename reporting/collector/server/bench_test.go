package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/wire"
)

// BenchmarkIngest sends signed submissions in parallel over loopback HTTP
// to a collector on a SQLite file, and reports submissions per second and
// the 99th percentile latency. Every one is acknowledged only after commit.
//
//	go test -run '^$' -bench Ingest -benchtime 5000x ./reporting/collector/server/
func BenchmarkIngest(b *testing.B) {
	e := newEnv(b, engines["SQLite"](b))
	const practices = 50
	agents := make([]*agent, practices)
	for i := range agents {
		agents[i] = e.enrolled(b, fmt.Sprintf("Y%05d", i), "QWE")
	}
	// Documents for 24 month ends per practice, built once.
	months := []string{}
	for y := 2023; y <= 2024; y++ {
		for m := 1; m <= 12; m++ {
			months = append(months, time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
		}
	}
	docs := make([][][]byte, practices)
	for i, a := range agents {
		for _, m := range months {
			docs[i] = append(docs[i], document(a.ods, m, 41))
		}
	}
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}

	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(32) // 64 concurrent agents on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := n.Add(1)
			p := int(i % practices)
			a := agents[p]
			body := docs[p][int(i/practices)%len(months)]
			req, _ := http.NewRequest("POST", e.url+wire.PathSubmissions, bytes.NewReader(body))
			req.Header.Set(wire.HeaderIdempotencyKey, fmt.Sprintf("bench-%012d", i))
			t0 := time.Now()
			wire.Sign(req, a.priv, a.ods, body, t0)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "submissions/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
}
