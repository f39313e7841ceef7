package engine

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime"
)

// target is what the tests of one target (host:port) share of
// max_concurrent_checks: at most share checks of theirs run at once,
// unless none does (a test is never too big to run). A run beyond it
// waits in queue, in order, for a run of the same target to end, so that
// the tests of a silent peer, each holding its slot for its whole
// timeout, never keep the tests of other targets waiting behind them.
// Guarded by Engine.poolMu.
type target struct {
	key      string
	demand   float64 // checks that run at once when the target hangs
	share    int
	inflight int           // checks of runs admitted and not ended
	queue    []*testRunner // runs waiting for room, oldest first
}

// admit counts t's run in when the target has room for it.
func (g *target) admit(t *testRunner) bool {
	if g.inflight > 0 && g.inflight+t.cost > g.share {
		return false
	}
	g.inflight += t.cost
	return true
}

// release counts t's run out, and returns the next queued run, admitted,
// when it has room now (nil when none).
func (g *target) release(t *testRunner) *testRunner {
	g.inflight -= t.cost
	if len(g.queue) == 0 || !g.admit(g.queue[0]) {
		return nil
	}
	next := g.queue[0]
	g.queue[0] = nil
	g.queue = g.queue[1:]
	if len(g.queue) == 0 {
		g.queue = nil
	}
	return next
}

// targetKey names what a check talks to, for fair shares: its host and
// port options (host:port), or its host or server option, or, for a check
// with none of those (a script, most Lua types), the check itself.
func targetKey(c *runtime.CheckSpec) string {
	host := ""
	for _, name := range []string{"host", "server"} {
		if _, ok := c.Desc.Option(name); ok {
			if host = strings.ToLower(strings.TrimSpace(c.Opts.String(name))); host != "" {
				break
			}
		}
	}
	if host == "" {
		return "check " + c.Name
	}
	if _, ok := c.Desc.Option("port"); ok {
		if p := strings.TrimSpace(c.Opts.Raw("port")); p != "" {
			return net.JoinHostPort(host, p)
		}
	}
	return host
}

// testDemand is how many checks of t run at once, on average, when every
// target of t hangs: each check holds its slot for its deadline, up to the
// interval (a test never overlaps its own runs).
func testDemand(t *runtime.TestSpec) float64 {
	var deadline time.Duration
	for _, c := range t.Checks {
		deadline = max(deadline, c.Desc.DeadlineFor(c.Opts))
	}
	if t.Interval <= 0 {
		return float64(len(t.Checks))
	}
	return float64(len(t.Checks)) * min(1, deadline.Seconds()/t.Interval.Seconds())
}

// targets groups the scheduled tests of plan by the target of their first
// check, with each target's demand; index gives each test's target.
func targets(plan *runtime.Plan, scheduled func(*runtime.TestSpec) bool) (list []*target, index map[*runtime.TestSpec]*target) {
	byKey := map[string]*target{}
	index = make(map[*runtime.TestSpec]*target, len(plan.Tests))
	for _, t := range plan.Tests {
		key := "test " + t.Name
		if len(t.Checks) > 0 {
			key = targetKey(t.Checks[0])
		}
		g := byKey[key]
		if g == nil {
			g = &target{key: key}
			byKey[key] = g
			list = append(list, g)
		}
		index[t] = g
		if scheduled(t) {
			g.demand += testDemand(t)
		}
	}
	return list, index
}

// fairShares divides capacity among the targets by max-min fairness
// (water-filling): in order of demand, each gets its demand or an equal
// part of what is left, whichever is smaller, rounded up and at least 1.
func fairShares(list []*target, capacity int) {
	order := slices.Clone(list)
	slices.SortStableFunc(order, func(a, b *target) int {
		switch {
		case a.demand < b.demand:
			return -1
		case a.demand > b.demand:
			return 1
		}
		return 0
	})
	left := float64(capacity)
	for i, g := range order {
		part := min(g.demand, left/float64(len(order)-i))
		left -= part
		g.share = max(1, int(math.Ceil(part-1e-9)))
	}
}

// Concurrency is what a configuration asks of max_concurrent_checks.
type Concurrency struct {
	// Need is how many checks would run at once if every target hung:
	// each check holds its slot for its timeout, up to its interval.
	Need int
	// Cap is max_concurrent_checks.
	Cap int
	// Busiest is the target with the most demand, Demand its demand and
	// Share the part of Cap it gets.
	Busiest string
	Demand  int
	Share   int
}

// Warning says, when Need is above Cap, that some checks would wait and
// what the fair shares do about it; it is "" otherwise.
func (c Concurrency) Warning() string {
	if c.Need <= c.Cap {
		return ""
	}
	return fmt.Sprintf("with every target hanging, %d checks would run at once, more than max_concurrent_checks = %d: "+
		"each target gets a fair share, and %s (%d at once) is held to %d, so its runs queue behind each other and may be skipped; "+
		"raise max_concurrent_checks or lower those tests' timeout", c.Need, c.Cap, c.Busiest, c.Demand, c.Share)
}

// PlanConcurrency returns what plan asks of max_concurrent_checks, for
// --lint and the start-up warning.
func PlanConcurrency(plan *runtime.Plan) Concurrency {
	roles := runtime.ShardRoles(plan.Tests, plan.Main.Uplink, plan.Main.Shard)
	list, _ := targets(plan, func(t *runtime.TestSpec) bool { return roles[t.Name] != runtime.ShardOut })
	return concurrencyOf(list, max(plan.Main.MaxConcurrentChecks, 1))
}

// concurrencyOf sums the demand of list against capacity, and shares it.
func concurrencyOf(list []*target, capacity int) Concurrency {
	fairShares(list, capacity)
	c := Concurrency{Cap: capacity}
	var need float64
	var busiest *target
	for _, g := range list {
		need += g.demand
		if busiest == nil || g.demand > busiest.demand {
			busiest = g
		}
	}
	c.Need = int(math.Ceil(need - 1e-9))
	if busiest != nil {
		c.Busiest, c.Demand, c.Share = busiest.key, int(math.Ceil(busiest.demand-1e-9)), busiest.share
	}
	return c
}
