package runtime

import (
	"fmt"
	"testing"
)

// TestShardGrowthMovesAQuarter: going from 3 to 4 shards moves only the
// tests the new shard wins, about a quarter.
func TestShardGrowthMovesAQuarter(t *testing.T) {
	t.Parallel()
	moved := 0
	for i := range 300 {
		name := fmt.Sprintf("t%03d", i)
		a, b := ShardOf(name, 3), ShardOf(name, 4)
		if a != b {
			moved++
			if b != 4 {
				t.Errorf("%s moved from shard %d to %d, want only moves to the new shard 4", name, a, b)
			}
		}
	}
	if frac := float64(moved) / 300; frac < 0.15 || frac > 0.35 {
		t.Errorf("growing 3 → 4 shards moved %d of 300 tests (%.0f%%), want 15%%-35%%", moved, frac*100)
	}
	t.Logf("growing 3 → 4 shards moved %d of 300 tests", moved)
}

// TestShardRolesFollowDependencies: a test named in depends= or as the
// uplink runs on every shard whose tests need it, directly or not.
func TestShardRolesFollowDependencies(t *testing.T) {
	t.Parallel()
	var tests []*TestSpec
	for i := range 60 {
		tests = append(tests, &TestSpec{Name: fmt.Sprintf("t%02d", i)})
	}
	// t01 depends on t02, which depends on t03; t00 is the uplink.
	tests[1].Depends = []string{"t02"}
	tests[2].Depends = []string{"t03"}
	for k := 1; k <= 3; k++ {
		roles := ShardRoles(tests, "t00", Shard{K: k, N: 3})
		for _, tt := range tests {
			own := ShardOf(tt.Name, 3) == k
			want := ShardOut
			switch {
			case own:
				want = ShardOwn
			case tt.Name == "t00":
				want = ShardDependency // the uplink: every shard needs it
			case tt.Name == "t02" && ShardOf("t01", 3) == k,
				tt.Name == "t03" && (ShardOf("t01", 3) == k || ShardOf("t02", 3) == k):
				want = ShardDependency
			}
			if roles[tt.Name] != want {
				t.Errorf("shard %d/3: %s has role %q, want %q", k, tt.Name, roles[tt.Name], want)
			}
		}
	}
	if r := ShardRoles(tests, "", Shard{}); r["t05"] != ShardOwn {
		t.Errorf("without sharding t05 has role %q, want own", r["t05"])
	}
}

func TestParseShard(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Shard{"": {}, "1/3": {1, 3}, " 3 / 3 ": {3, 3}, "1/1": {1, 1}} {
		if got, err := parseShard(in); err != nil || got != want {
			t.Errorf("parseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0/3", "4/3", "3", "a/b", "1/0", "-1/2"} {
		if _, err := parseShard(in); err == nil {
			t.Errorf("parseShard(%q) accepted", in)
		}
	}
}
