package runtime

import (
	"slices"
	"strings"

	"github.com/monsta/monsta/config"
)

// FlapPolicy is how a test detects flapping.
type FlapPolicy struct {
	On   bool
	High float64 // percent state change that starts flapping
	Low  float64 // percent state change at or below which flapping stops
}

// checkFlap refuses [main] flap thresholds that cannot work.
func checkFlap(probs *config.Problems, o *Options) bool {
	hi, lo := o.Value("flap_high").(float64), o.Value("flap_low").(float64)
	if lo >= hi {
		probs.Addf(o.Pos("flap_low"), o.Section, "flap_low", "%v must be below flap_high (%v)", lo, hi)
		return false
	}
	return true
}

// flapPolicy resolves a test's flap options over [main]'s.
func (r *resolution) flapPolicy(o *Options) FlapPolicy {
	f := r.plan.Main.Flap
	if v, ok := o.Value("flap_detection").(bool); ok {
		f.On = v
	}
	if v, ok := o.Value("flap_high").(float64); ok {
		f.High = v
	}
	if v, ok := o.Value("flap_low").(float64); ok {
		f.Low = v
	}
	if f.On && f.Low >= f.High {
		key := "flap_low"
		if o.IsSet("flap_high") {
			key = "flap_high"
		}
		r.probs.Addf(o.Pos(key), o.Section, key, "flap_low (%v) must be below flap_high (%v)", f.Low, f.High)
	}
	return f
}

// dependencies checks every depends= and [main] uplink: each names a
// test, and no test depends on itself, directly or not. The uplink counts
// as a parent of every other test, so the uplink itself may depend on
// nothing.
func (r *resolution) dependencies() {
	byName := make(map[string]*TestSpec, len(r.plan.Tests))
	var names []string
	for _, t := range r.plan.Tests {
		byName[t.Name] = t
		names = append(names, t.Name)
	}
	slices.Sort(names)
	up := r.plan.Main.Uplink
	if up != "" {
		if _, ok := byName[up]; !ok {
			r.probs.Addf(r.plan.Main.UplinkPos, "main", "uplink", "no test named %q (no section [Test_%s])%s", up, up, suggest(up, names))
			up = ""
		}
	}
	for _, t := range r.plan.Tests {
		pos := r.dependsPos[t]
		var kept []string
		for _, d := range t.Depends {
			switch {
			case byName[d] == nil:
				r.probs.Addf(pos, "Test_"+t.Name, "depends", "no test named %q (no section [Test_%s])%s", d, d, suggest(d, names))
			case contains(kept, d):
			default:
				kept = append(kept, d)
			}
		}
		t.Depends = kept
		if t.Name == up && len(kept) > 0 {
			r.probs.Addf(pos, "Test_"+t.Name, "depends", "the uplink test cannot depend on other tests: every test depends on it")
			t.Depends = nil
		}
	}
	// Find cycles by depth-first search; report each once, at the
	// depends= of its first test in configuration order.
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(n string)
	visit = func(n string) {
		mark[n] = onPath
		path = append(path, n)
		for _, d := range byName[n].Depends {
			switch mark[d] {
			case unseen:
				visit(d)
			case onPath:
				i := slices.Index(path, d)
				cycle := append(slices.Clone(path[i:]), d)
				first := byName[cycle[0]]
				for _, c := range cycle {
					if slices.Index(r.plan.Tests, byName[c]) < slices.Index(r.plan.Tests, first) {
						first = byName[c]
					}
				}
				r.probs.Addf(r.dependsPos[first], "Test_"+first.Name, "depends", "dependency cycle: %s", strings.Join(rotate(cycle, first.Name), " → "))
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
	}
	for _, t := range r.plan.Tests {
		if mark[t.Name] == unseen {
			visit(t.Name)
		}
	}
}

// rotate returns the closed cycle c (first == last) starting at name.
func rotate(c []string, name string) []string {
	open := c[:len(c)-1]
	i := slices.Index(open, name)
	out := append(slices.Clone(open[i:]), open[:i]...)
	return append(out, name)
}

// Parents returns the tests t depends on: its depends= and the uplink.
func Parents(t *TestSpec, uplink string) []string {
	if uplink == "" || t.Name == uplink || contains(t.Depends, uplink) {
		return t.Depends
	}
	return append(slices.Clone(t.Depends), uplink)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
