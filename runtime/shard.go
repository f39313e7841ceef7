package runtime

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is [main] shard = K/N: this instance is shard K (1-based) of N.
// The zero Shard means no sharding: every test runs here.
type Shard struct{ K, N int }

// String returns "K/N", or "" for no sharding.
func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return strconv.Itoa(s.K) + "/" + strconv.Itoa(s.N)
}

// parseShard parses K/N with 1 <= K <= N; empty is no sharding.
func parseShard(s string) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Shard{}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := strconv.Atoi(strings.TrimSpace(ks))
	n, nerr := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || kerr != nil || nerr != nil || n < 1 || k < 1 || k > n {
		return nil, fmt.Errorf("%q is not K/N with 1 <= K <= N (this instance's shard K of N)", s)
	}
	return Shard{K: k, N: n}, nil
}

// ShardOf returns the shard (1 to n) that owns the test: the one of
// highest random weight (rendezvous hashing) for the test's name. Growing
// n to n+1 moves only the tests the new shard wins, about 1/(n+1) of them.
func ShardOf(test string, n int) int {
	best, bestW := 1, uint64(0)
	for i := 1; i <= n; i++ {
		if w := shardWeight(test, i); i == 1 || w > bestW {
			best, bestW = i, w
		}
	}
	return best
}

// shardWeight hashes test and shard together: FNV-1a, then a SplitMix64
// finaliser, which spreads FNV's near-equal hashes of similar inputs.
func shardWeight(test string, shard int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(test))
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], uint64(shard))
	h.Write(b[:])
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ShardRole says whether a test runs on this instance.
type ShardRole string

// The roles of a test under sharding.
const (
	// ShardOwn tests belong to this shard (or nothing is sharded): they
	// run and notify here.
	ShardOwn ShardRole = ""
	// ShardDependency tests belong to another shard, but a test of this
	// shard depends on them (depends= or the uplink): they run here too,
	// so that the dependency works, but only their own shard notifies.
	ShardDependency ShardRole = "dependency"
	// ShardOut tests belong to another shard and do not run here.
	ShardOut ShardRole = "out"
)

// ShardRoles returns each test's role on shard s: its own tests, the
// tests they depend on (directly or not), and the rest. Every test is
// somebody's own, so each runs once per interval over all the shards.
func ShardRoles(tests []*TestSpec, uplink string, s Shard) map[string]ShardRole {
	roles := make(map[string]ShardRole, len(tests))
	byName := make(map[string]*TestSpec, len(tests))
	for _, t := range tests {
		byName[t.Name] = t
		roles[t.Name] = ShardOut
	}
	var need []string
	for _, t := range tests {
		if s.N == 0 || ShardOf(t.Name, s.N) == s.K {
			roles[t.Name] = ShardOwn
			need = append(need, t.Name)
		}
	}
	for len(need) > 0 {
		t := byName[need[0]]
		need = need[1:]
		for _, p := range Parents(t, uplink) {
			if roles[p] == ShardOut {
				if _, ok := byName[p]; ok {
					roles[p] = ShardDependency
					need = append(need, p)
				}
			}
		}
	}
	return roles
}

// ShardSplit counts the tests each of n shards owns, in shard order.
func ShardSplit(tests []*TestSpec, n int) []int {
	out := make([]int, n)
	for _, t := range tests {
		out[ShardOf(t.Name, n)-1]++
	}
	return out
}
