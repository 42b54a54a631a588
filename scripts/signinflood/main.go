// Command signinflood floods a running steward-collector's sign-in form
// and measures what it costs: it sends a bounded number of POST /login
// attempts over a fixed number of connections, while sampling /healthz
// latency on a connection of its own and the collector's resident memory
// from /proc/PID/status, then prints one line of figures. It stops by
// itself when every attempt has been answered (or has timed out).
//
// make bench runs it through scripts/bench-signin.sh against the real
// binary; targets: peak RSS under 400 MB, /healthz p99 under 50 ms.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "", "the collector's base `URL`, e.g. http://127.0.0.1:8080")
	pid := flag.Int("pid", 0, "the collector's process `id`, for its memory")
	attempts := flag.Int("attempts", 500, "sign-in attempts in all")
	conns := flag.Int("conns", 100, "connections sending them at once")
	name := flag.String("name", "", "sign in as this `name` every time; empty: a different unknown name each time")
	spread := flag.Bool("spread", false, "send each attempt as if from a different client (X-Forwarded-For), as a botnet would")
	label := flag.String("label", "flood", "the scenario's `label` in the output")
	idle := flag.Duration("idle", 0, "send no sign-ins: only sample /healthz and memory for this `long` (a baseline)")
	flag.Parse()
	if *base == "" || *pid == 0 || *attempts < 1 || *conns < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if *idle > 0 {
		*attempts = 0
	}
	if err := run(*base, *pid, *attempts, *conns, *name, *spread, *label, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "signinflood:", err)
		os.Exit(1)
	}
}

// memKB reads a field (VmRSS, VmHWM) of /proc/PID/status in kB.
func memKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func run(base string, pid, attempts, conns int, name string, spread bool, label string, idle time.Duration) error {
	before, err := memKB(pid, "VmRSS")
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// /healthz on its own connection, every 20 ms, until the flood ends.
	var lat []time.Duration
	var failedHealth atomic.Int64
	var samplers sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	samplers.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			resp, err := hc.Get(base + "/healthz")
			if err != nil {
				failedHealth.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failedHealth.Add(1)
				continue
			}
			lat = append(lat, time.Since(start))
		}
	})
	// Resident memory every 50 ms (VmHWM at the end is the true peak).
	var maxRSS atomic.Int64
	samplers.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := memKB(pid, "VmRSS"); err == nil && kb > maxRSS.Load() {
				maxRSS.Store(kb)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})

	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
	client := &http.Client{Timeout: time.Minute, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var next atomic.Int64
	var mu sync.Mutex
	status := map[int]int{}
	errs := 0
	start := time.Now()
	var workers sync.WaitGroup
	for range conns {
		workers.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= attempts {
					return
				}
				n := name
				if n == "" {
					n = fmt.Sprintf("flood-%d", i)
				}
				form := url.Values{"name": {n}, "password": {"not the password " + strconv.Itoa(i)}, "csrf_token": {"bench"}}
				req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(&http.Cookie{Name: "steward_login", Value: "bench"})
				if spread {
					req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				}
				resp, err := client.Do(req)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					status[resp.StatusCode]++
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	workers.Wait()
	if idle > 0 {
		time.Sleep(idle)
	}
	elapsed := time.Since(start)
	stop()
	samplers.Wait()
	hwm, err := memKB(pid, "VmHWM")
	if err != nil {
		return err
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	var codes []string
	for _, c := range slices.Sorted(func(yield func(int) bool) {
		for c := range status {
			if !yield(c) {
				return
			}
		}
	}) {
		codes = append(codes, fmt.Sprintf("%d:%d", c, status[c]))
	}
	if errs > 0 {
		codes = append(codes, fmt.Sprintf("error:%d", errs))
	}
	fmt.Printf("%-12s %8d %6d %8.1f %-24s %7d %8.1f %8.1f %8.1f %8d %8d %8d\n", label, attempts, conns, elapsed.Seconds(),
		strings.Join(codes, ","), len(lat), pct(0.50), pct(0.99), pct(1)-0, before/1024, maxRSS.Load()/1024, hwm/1024)
	if failedHealth.Load() > 0 {
		fmt.Printf("%-12s /healthz failed %d times\n", label, failedHealth.Load())
	}
	return nil
}
