package agent

import (
	"context"
	"time"
)

// LoopOptions pace the service loop.
type LoopOptions struct {
	// Tick is how often the loop looks for due work (default 15 min). A
	// cycle with nothing due costs a directory listing.
	Tick time.Duration
	// Heartbeat is how often the collector hears from the agent.
	Heartbeat time.Duration
	// Sleep waits; tests replace it to run days of simulated time at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Loop runs until ctx ends: a cycle at start (catching up anything missed
// while the agent was stopped) and at every tick, and a heartbeat at start
// and every Heartbeat. A failed cycle (database down, collector
// unreachable) is logged and retried at the next tick: the loop itself
// never stops on a failure.
func (a *Agent) Loop(ctx context.Context, o LoopOptions) error {
	if o.Tick <= 0 {
		o.Tick = 15 * time.Minute
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 6 * time.Hour
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	var lastBeat time.Time
	for {
		if _, err := a.Cycle(ctx, time.Time{}); err != nil && ctx.Err() == nil {
			a.o.Logger.Warn("cycle did not finish; retrying at the next tick", "next", o.Tick, "error", err)
		}
		if now := a.o.Now(); lastBeat.IsZero() || now.Sub(lastBeat) >= o.Heartbeat {
			if err := a.Heartbeat(ctx); err != nil && ctx.Err() == nil {
				a.o.Logger.Warn("heartbeat failed", "error", err)
			} else if err == nil {
				lastBeat = now
			}
		}
		if err := o.Sleep(ctx, o.Tick); err != nil {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
